"""Feeding the model: batches gathered on the device, bf16 autocast, cached frozen-prefix activations.

The dataset is one ``(N, S, S)`` uint8 array (in a search: a zero-copy view of Ray's
object store, or beyond the memory budget a read-only memmap of the store on disk). On a
GPU it is copied to device memory once when it fits, so a batch is an index into GPU memory
rather than a host→device copy; normalisation happens inside the model, on the device.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler

from raycxr.models import FreezeNet
from raycxr.train._prefetch import gathered

#: The images move to the GPU once when they take less than this fraction of its free memory.
RESIDENT_FRACTION = 0.25


def as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor sharing ``array``'s memory (also for read-only object-store buffers: never written)."""
    if isinstance(array, torch.Tensor):
        return array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the given NumPy array is not writable"
        return torch.from_numpy(array)


def place(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """``array`` where batches are gathered from: in GPU memory when it fits, else where it is."""
    tensor = as_tensor(array)
    if device.type == "cuda" and tensor.device != device:
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.nbytes < RESIDENT_FRACTION * free:
            return tensor.to(device)
    return tensor


def batches(
    source: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    sampler: Any,
    device: torch.device,
    prefetch: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, labels)`` batches of ``rows`` in ``sampler``'s order, on ``device``.

    Inputs are gathered where ``source`` lives; from host memory (an array, or a memory-mapped
    store) the next batch is gathered in a background thread while this one trains
    (:mod:`raycxr.train._prefetch`), then goes through pinned memory with an asynchronous copy
    to a GPU. ``prefetch=False`` gathers in this thread (for measuring).
    """
    source, labels = as_tensor(source), as_tensor(labels)
    rows_t = torch.as_tensor(np.asarray(rows), dtype=torch.long)
    indices = [rows_t[positions] for positions in BatchSampler(sampler, batch_size, drop_last=False)]
    if source.device.type != "cpu" or not prefetch:
        for index in indices:
            yield gather(source, index, device), gather(labels, index, device)
        return
    for index, x in zip(indices, gathered(source, indices)):
        yield to_device(x, device), gather(labels, index, device)


def steps_per_epoch(rows: int, batch_size: int, world: int = 1) -> int:
    """Optimizer steps of one epoch of ``train_one_epoch`` on ``rows`` training rows, per process.

    A ``DistributedSampler`` pads the rows to ``world × ⌈rows / world⌉``, so every process
    gets ``⌈rows / world⌉`` of them; of its batches, a last one of a single image is skipped
    (BatchNorm cannot train on it). What a per-step schedule's length is computed from.
    """
    shard = -(-rows // world)
    full, rest = divmod(shard, batch_size)
    return full + (1 if rest >= 2 else 0)


def gather(source: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``source[index]`` on ``device``: gathered where ``source`` lives, then (pinned, async) copied."""
    return to_device(source[index.to(source.device)], device)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``; from host memory to a GPU through pinned memory, asynchronously."""
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` means bf16 autocast on ``device`` (``auto``: GPUs that support it)."""
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@torch.no_grad()
def frozen_activations(
    model: FreezeNet,
    blocks: int,
    source: torch.Tensor,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
    max_bytes: float,
) -> torch.Tensor | None:
    """Output of the first ``blocks`` (frozen) feature blocks for ``rows``, in row order, on ``device``.

    Computed in float32 whatever the training precision, so the validation scores of a cached
    run are those of the whole network (see :func:`raycxr.train.evaluate`).

    Returns:
        ``(len(rows), C, H, W)`` activations, or ``None`` when they would take more than
        ``max_bytes``.
    """
    prefix = model.prefix(blocks)
    training = model.training
    model.eval()  # the prefix's BatchNorm layers are frozen, hence in eval mode anyway
    try:
        probe = prefix(gather(as_tensor(source), torch.as_tensor(rows[:1], dtype=torch.long), device))
        if probe[0].numel() * probe.element_size() * len(rows) > max_bytes:
            return None
        out = torch.empty((len(rows), *probe.shape[1:]), dtype=probe.dtype, device=device)
        source, rows_t = as_tensor(source), torch.as_tensor(np.asarray(rows), dtype=torch.long)
        for start in range(0, len(rows_t), batch_size):
            out[start : start + batch_size] = prefix(gather(source, rows_t[start : start + batch_size], device))
        return out
    finally:
        model.train(training)
