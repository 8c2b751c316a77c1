"""What augmentation adds to the training step: ``augment`` none / light / medium / heavy, same run.

    python benchmarks/augment_cost.py [--size 224] [--batch-size 16] [--steps 4] [--repeats 7]

One MobileNetV2 (``weights='none'``, freeze ratio 0.5, no frozen-prefix cache: the full forward
pass, as ``fit`` runs it with augmentation on) trains ``--steps`` batches per timed epoch through
``train_one_epoch``, on the CPU. The presets are timed interleaved (none, light, medium, heavy,
none, …) ``--repeats`` times so that drifting machine load hits them alike; the table gives the
median time per training step, its ratio against ``none`` (the issue's goal: at most 1.10 at
224 px), the median time of the augmentation alone on one batch, and that time over the ``none``
step: the added fraction, steadier than the step ratio on a busy machine, where one step's time
varies by more than the augmentation costs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from raycxr.augment import AugmentSpec, BatchAugment
from raycxr.losses import WeightedCrossEntropy
from raycxr.models import build_model
from raycxr.train import train_one_epoch

PRESETS = ("none", "light", "medium", "heavy")


def images(n: int, size: int) -> np.ndarray:
    """Smooth random uint8 images (CLAHE and blur cost what they cost on real radiographs)."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 1, size // 16, size // 16, generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (smooth.squeeze(1) * 255).to(torch.uint8).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timed epoch (default 4)")
    parser.add_argument("--repeats", type=int, default=7, help="timed epochs per preset (default 7)")
    args = parser.parse_args()
    torch.manual_seed(0)
    n = args.batch_size * args.steps
    data, labels = images(n, args.size), np.arange(n) % 4
    rows, device = np.arange(n), torch.device("cpu")
    model = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5, head="gmp", seed=0)
    criterion = WeightedCrossEntropy()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    augments = {p: BatchAugment(AugmentSpec.resolve(p)) if p != "none" else None for p in PRESETS}
    epochs = iter(range(1, 1_000_000))

    def epoch(preset: str) -> float:
        start = time.perf_counter()
        train_one_epoch(model, criterion, optimizer, data, labels, rows, args.batch_size, device, next(epochs),
                        augment=augments[preset])  # fmt: skip
        return (time.perf_counter() - start) / args.steps

    def augment_alone(preset: str) -> float:
        augment = augments[preset]
        if augment is None:
            return 0.0
        stream, batch = augment.stream(0, next(epochs)), torch.from_numpy(data[: args.batch_size])
        start = time.perf_counter()
        stream(batch)
        return time.perf_counter() - start

    for preset in PRESETS:  # warm-up: allocator, oneDNN kernels, kornia's first calls
        epoch(preset)
    steps: dict[str, list[float]] = {p: [] for p in PRESETS}
    alone: dict[str, list[float]] = {p: [] for p in PRESETS}
    for _ in range(args.repeats):
        for preset in PRESETS:
            steps[preset].append(epoch(preset))
            alone[preset].append(augment_alone(preset))
    base = statistics.median(steps["none"])
    print(f"MobileNetV2, freeze 0.5 (no cache), {args.size} px, batch {args.batch_size}, CPU threads "
          f"{torch.get_num_threads()}, median of {args.repeats} interleaved epochs of {args.steps} steps")  # fmt: skip
    print(f"{'augment':<8} {'step ms':>8} {'vs none':>8} {'augment alone ms':>17} {'alone / none step':>18}")
    for preset in PRESETS:
        step = statistics.median(steps[preset])
        added = statistics.median(alone[preset])
        print(f"{preset:<8} {step * 1e3:8.1f} {step / base:8.3f} {added * 1e3:17.1f} {added / base:18.3f}")


if __name__ == "__main__":
    main()
