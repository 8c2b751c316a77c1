"""Training images/s of raycxr's loop against a minimal PyTorch loop, per backbone, and the decode cache.

    python benchmarks/train_throughput.py [--n 512] [--size 224] [--batch-size 8] [--repeats 3]
        [--backbones mobilenet_v2,resnet18,...]   (default: every registered backbone)

Both loops train the same network (random init, so no weights are needed) on the same
uint8 images with the same batch size and loss, in the same process; each is timed over
one epoch, ``--repeats`` times, alternating plain and raycxr, best time kept. The table
prints the ratio raycxr / plain per backbone and freeze ratio (goal ≥ 0.95; ImageNet
backbones at 0 and 0.5, the from-scratch ones at 0). Then the decode cache: images/s of a
first build (decode and resize every PNG) against a reuse.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raycxr.data import decode_dataset, index_folder
from raycxr.data.synthetic import generate
from raycxr.losses import WeightedCrossEntropy
from raycxr.models import backbone_names, build_model, get_backbone
from raycxr.train import train_one_epoch


def plain_epoch(model, criterion, optimizer, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    """The textbook loop: shuffled index batches of an in-memory tensor."""
    model.train()
    order = torch.randperm(len(images))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out = model(images[idx])
        if isinstance(out, tuple):  # Inception-V3's auxiliary logits, weight 0.4 (torchvision's recipe)
            loss = criterion(out[0], labels[idx]) + 0.4 * criterion(out[1], labels[idx])
        else:
            loss = criterion(out, labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _fresh(backbone: str, freeze: float, size: int):
    model = build_model(
        backbone, num_classes=4, weights="none", freeze_ratio=freeze, head="gmp", seed=0, image_size=size
    )
    criterion = WeightedCrossEntropy([1.0, 1.2, 0.8, 1.5])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    return model, criterion, optimizer


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(
    backbone: str, freeze: float, images: np.ndarray, labels: np.ndarray, batch_size: int, repeats: int
) -> tuple[float, float]:
    """(plain, raycxr) training images/s of one backbone at one freeze ratio, best of ``repeats`` epochs each."""
    rows = np.arange(len(images))
    size = images.shape[-1]
    images_t, labels_t = torch.from_numpy(images), torch.from_numpy(labels)
    plain = _fresh(backbone, freeze, size)
    ours = _fresh(backbone, freeze, size)
    device = torch.device("cpu")
    epochs = iter(range(1, 10_000))
    # Warm up both once (allocator, oneDNN kernels) before timing.
    plain_epoch(*plain, images_t, labels_t, batch_size)
    train_one_epoch(*ours, images, labels, rows, batch_size, device, 0)
    t_plain, t_ours = [], []
    for _ in range(repeats):  # alternating, so drifting machine load hits both alike
        t_plain.append(best_of(1, lambda: plain_epoch(*plain, images_t, labels_t, batch_size)))
        t_ours.append(
            best_of(1, lambda: train_one_epoch(*ours, images, labels, rows, batch_size, device, next(epochs)))
        )
    return len(images) / min(t_plain), len(images) / min(t_ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512, help="images (default 512)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size (default 8, the paper's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (default 3)")
    parser.add_argument("--backbones", default=",".join(backbone_names()), help="comma list (default: all)")
    args = parser.parse_args()
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    for b in backbones:
        if args.size < get_backbone(b).min_size:
            parser.error(f"--size {args.size} is below {b}'s minimum {get_backbone(b).min_size}")
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "cxr", n=args.n, size=299, seed=0)
        index = index_folder(root)
        first = best_of(1, lambda: decode_dataset(index, args.size, cache_dir=Path(tmp) / "c"))
        reuse = best_of(args.repeats, lambda: decode_dataset(index, args.size, cache_dir=Path(tmp) / "c"))
        decoded = decode_dataset(index, args.size, cache_dir=Path(tmp) / "c")
    images, labels = decoded.images, decoded.index.labels

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} images of {args.size} px, "
        f"batch {args.batch_size}, best of {args.repeats} epochs"
    )
    print(f"| {'backbone':<18} | {'freeze':>6} | {'plain img/s':>11} | {'raycxr img/s':>12} | {'ratio':>5} |")
    print(f"|{'-' * 20}|{'-' * 8}|{'-' * 13}|{'-' * 14}|{'-' * 7}|")
    for backbone in backbones:
        freezes = (0.0, 0.5) if get_backbone(backbone).imagenet is not None else (0.0,)
        for freeze in freezes:
            plain_ips, ours_ips = measure(backbone, freeze, images, labels, args.batch_size, args.repeats)
            print(
                f"| {backbone:<18} | {freeze:>6.1f} | {plain_ips:>11.1f} | {ours_ips:>12.1f} | "
                f"{ours_ips / plain_ips:>5.2f} |",
                flush=True,
            )
    print()
    print(f"| {'decode cache':<12} | {'img/s':>9} | {'ratio':>6} |")
    print(f"|{'-' * 14}|{'-' * 11}|{'-' * 8}|")
    print(f"| {'first build':<12} | {args.n / first:>9.0f} | {1.0:>6.1f} |")
    print(f"| {'reuse':<12} | {args.n / reuse:>9.0f} | {first / reuse:>6.1f} |")


if __name__ == "__main__":
    main()
