"""What a trained network costs: parameters, multiply-accumulates per image, batch-1 latency.

These are the model metrics (``params``, ``macs``, ``latency_ms``) a multi-objective search
may minimise or constrain. A trial measures them once, on its own device, and reports them
with every epoch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

#: Forward passes before timing (allocator, cuDNN algorithm choice, caches) and timed ones.
WARMUP = 3
REPEATS = 10


def count_params(model: nn.Module) -> int:
    """Every parameter of ``model``, trainable and frozen."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``example``: PyTorch's FLOP count / 2.

    ``torch.utils.flop_counter`` counts matrix products and convolutions (grouped and
    depthwise ones by their real size); element-wise layers (BatchNorm, activations,
    pooling) are not counted, as is usual for MACs.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        model(example)
    return int(counter.get_total_flops()) // 2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def latency_ms(
    model: nn.Module, example: torch.Tensor, warmup: int = WARMUP, repeats: int = REPEATS, bf16: bool = False
) -> float:
    """Median wall time (ms) of a forward pass on ``example`` (its device), after ``warmup`` passes.

    ``bf16`` runs the passes under bf16 autocast, as the trial evaluates. On a GPU every
    pass is synchronised before the clock stops.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    device = example.device
    times = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            model(example)
            _sync(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def model_metrics(
    model: nn.Module, example: torch.Tensor, names: Sequence[str], bf16: bool = False
) -> dict[str, float]:
    """``names`` (of ``latency_ms``, ``macs``, ``params``) of ``model`` in eval mode on ``example``.

    ``example`` is one input (batch 1) on the model's device. The model's train/eval mode
    is restored afterwards; no random number is drawn.
    """
    training = model.training
    model.eval()
    try:
        values: dict[str, float] = {}
        if "params" in names:
            values["params"] = float(count_params(model))
        if "macs" in names:
            values["macs"] = float(count_macs(model, example))
        if "latency_ms" in names:
            values["latency_ms"] = latency_ms(model, example, bf16=bf16)
        return values
    finally:
        model.train(training)
