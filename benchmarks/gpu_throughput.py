"""Training images/s of MobileNetV2 at 224 px: a plain PyTorch loop against raycxr's data path.

    python benchmarks/gpu_throughput.py [--device auto] [--n 2048] [--batch-size 64] [--repeats 3]

Three loops train the same Mobile Freeze-Net (random init: no weights needed) on the same
uint8 images, batch size and loss, in one process, each timed over whole epochs (best of
``--repeats``) at freeze 0 and 0.5:

- ``plain``: the textbook loop: a batch is gathered from the host array and copied to the
  device, float32, NCHW;
- ``raycxr``: ``train_one_epoch`` as ``fit`` runs it: images resident on the GPU, bf16
  autocast where supported, channels_last on CUDA;
- ``+cache``: as ``raycxr``, training the tail on the frozen blocks' cached output (only
  where blocks are frozen); the one-off cost of filling the cache is printed apart.

On CUDA it also prints the peak GPU memory of each (what a trial needs: how many trials
share one GPU with ``--gpus-per-worker 1/k``). Runs on CPU too (float32, no residency).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from raycxr.losses import WeightedCrossEntropy
from raycxr.models import build_model
from raycxr.train import resolve_device, train_one_epoch
from raycxr.train._feed import frozen_activations, place, use_bf16


def _fresh(freeze: float, device: torch.device):
    model = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=freeze, head="gmp", seed=0).to(
        device
    )
    criterion = WeightedCrossEntropy([1.0, 1.2, 0.8, 1.5]).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    return model, criterion, optimizer


def plain_epoch(model, criterion, optimizer, images: np.ndarray, labels: np.ndarray, batch_size: int, device) -> None:
    """The textbook loop: shuffled batches gathered on the host, copied to the device, float32."""
    model.train()
    order = np.random.permutation(len(images))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        x, y = torch.from_numpy(images[idx]).to(device), torch.from_numpy(labels[idx]).to(device)
        loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(repeats: int, fn: Callable[[], object], device: torch.device) -> float:
    fn()  # warm-up: allocator, cuDNN / oneDNN kernel choice
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure(freeze: float, images: np.ndarray, labels: np.ndarray, args, device: torch.device) -> dict[str, object]:
    """images/s (and peak MiB on CUDA) of the three loops at one freeze ratio."""
    n, rows, bf16 = len(images), np.arange(len(images)), use_bf16("auto", device)
    out: dict[str, object] = {"freeze": freeze, "bf16": bf16}

    _reset(device)
    baseline = _fresh(freeze, device)
    out["plain"] = n / best_of(
        args.repeats, lambda: plain_epoch(*baseline, images, labels, args.batch_size, device), device
    )
    out["plain_mib"] = _peak_mib(device)

    _reset(device)
    model, criterion, optimizer = _fresh(freeze, device)
    if device.type == "cuda":
        model.to_channels_last()
    source, targets = place(images, device), place(labels, device)
    epochs = iter(range(1, 10_000))

    def ours() -> None:
        train_one_epoch(
            model, criterion, optimizer, source, targets, rows, args.batch_size, device, next(epochs), 0, bf16
        )

    out["raycxr"] = n / best_of(args.repeats, ours, device)
    out["raycxr_mib"] = _peak_mib(device)

    blocks = model.frozen_blocks()
    out["cache"] = out["cache_s"] = out["cache_mib"] = None
    if blocks:
        _reset(device)
        _sync(device)
        start = time.perf_counter()
        cached = frozen_activations(model, blocks, source, rows, 256, device, bf16, float("inf"))
        _sync(device)
        out["cache_s"] = time.perf_counter() - start
        tail = model.tail(blocks)

        def cached_epoch() -> None:
            train_one_epoch(
                tail, criterion, optimizer, cached, targets, rows, args.batch_size, device, next(epochs), 0, bf16
            )

        out["cache"] = n / best_of(args.repeats, cached_epoch, device)
        out["cache_mib"] = _peak_mib(device)
    return out


def _cell(value: object, fmt: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--n", type=int, default=2048, help="images per epoch (default 2048)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per loop, after one warm-up")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, args.size, args.size), dtype=np.uint8)
    labels = rng.integers(0, 4, args.n).astype(np.int64)
    torch.manual_seed(0)
    np.random.seed(0)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"{name}; torch {torch.__version__}; {args.n} images of {args.size} px, batch {args.batch_size}, "
        f"best of {args.repeats} epochs"
    )
    header = (
        f"| {'freeze':>6} | {'plain img/s':>11} | {'raycxr img/s':>12} | {'ratio':>5} | {'+cache img/s':>12} "
        f"| {'ratio':>5} | {'cache fill s':>12} | {'bf16':>4} | {'plain MiB':>9} | {'raycxr MiB':>10} "
        f"| {'+cache MiB':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    for freeze in (0.0, 0.5):
        r = measure(freeze, images, labels, args, device)
        cache_ratio = r["cache"] / r["plain"] if r["cache"] else None
        print(
            f"| {freeze:>6.1f} | {r['plain']:>11.1f} | {r['raycxr']:>12.1f} | {r['raycxr'] / r['plain']:>5.2f} "
            f"| {_cell(r['cache'], '.1f', 12)} | {_cell(cache_ratio, '.2f', 5)} | {_cell(r['cache_s'], '.2f', 12)} "
            f"| {'yes' if r['bf16'] else 'no':>4} | {_cell(r['plain_mib'], '.0f', 9)} "
            f"| {_cell(r['raycxr_mib'], '.0f', 10)} | {_cell(r['cache_mib'], '.0f', 10)} |"
        )


if __name__ == "__main__":
    main()
