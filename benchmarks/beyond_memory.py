"""Data beyond memory: training images/s from the memmap store vs in memory, and the driver's cost at scale.

    python benchmarks/beyond_memory.py [--n 1500] [--size 64] [--batch-size 32] [--repeats 3] [--data DIR] [--ray-data]
    python benchmarks/beyond_memory.py --scale [--counts 21165,100000,200000] [--size 64] [--data DIR]

Throughput (default): a synthetic set (``raycxr.data.synthetic.generate`` at ``--size`` px, or
``--data``) with a memory budget of a third of its decoded size, so the run layer decodes it
into the memory-mapped store (:mod:`raycxr.run._images`); the same images are also decoded in
memory. Each repeat trains one epoch from each source, interleaved, with the training loop
``fit`` runs (``batches`` → a MobileNetV2 at freeze 0.5 forward/backward, CPU): ``memory`` (the
array), ``memmap`` (the store, pages warm in the page cache) and ``memmap cold`` (the store's
pages dropped from the page cache before the epoch with ``posix_fadvise(DONTNEED)``: every
row read from disk, as when the store is larger than RAM). ``gather only`` rows time the feed
alone (no model), with and without the prefetch thread. The table gives the median images/s
and the ratio to ``memory`` (goal: ≥ 0.9). ``--ray-data`` adds Ray Data streaming the same
store (``read_numpy`` → ``iter_torch_batches`` with a local shuffle buffer; timed after the
others, in a local Ray it starts). On a busy CPU an epoch of the model takes 0.05-0.1 s per
image: keep ``--n`` small there.

Scale (``--scale``): for each count, in a fresh process (its peak RSS is its own), the time of
indexing, decoding (with the given ``--budget-gb``, default the automatic budget), content and
perceptual hashing, and the rest of :func:`raycxr.run.create_partition` (manifest, audit), and
the peak resident memory (``ru_maxrss``; ``rss_imports_mib`` is that after the imports, before
any work) and the peak Python allocation (tracemalloc) of the driver. Without ``--data`` one
synthetic set of the largest count is generated first at ``--size`` px (64 px files: 200 000
of them take a while and ~1 GB); each count indexes its files through a CSV.
Every count starts from a cold cache directory and indexes a seeded random sample of ``count`` of the files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DistributedSampler

from raycxr.data import TestSpec, decode_dataset, file_phashes, hash_index, index_dataset
from raycxr.data.synthetic import generate
from raycxr.losses import WeightedCrossEntropy
from raycxr.models import build_model
from raycxr.run import create_partition, decode_images
from raycxr.train import TrainConfig, task_index
from raycxr.train._feed import batches

#: Gather-only rates are timed over this many images (several epochs of a small set).
GATHER_IMAGES = 20_000


def _drop_page_cache(path: str) -> None:
    """Evict the file's clean pages from the page cache (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _epoch(images: np.ndarray, labels: np.ndarray, batch_size: int, epoch: int, model=None, prefetch=True) -> float:
    """Seconds of one shuffled epoch over every row: the feed, and the model's step when given."""
    rows = np.arange(len(images))
    sampler = DistributedSampler(rows, num_replicas=1, rank=0, shuffle=True, seed=0)
    sampler.set_epoch(epoch)
    device = torch.device("cpu")
    start = time.perf_counter()
    if model is None:
        feed = batches(images, labels, rows, batch_size, sampler, device, prefetch=prefetch)
        for x, _ in feed:
            x.float().sum()  # touch every byte
        return time.perf_counter() - start
    net, criterion, optimizer = model
    net.train()
    for x, y in batches(images, labels, rows, batch_size, sampler, device, prefetch=prefetch):
        loss = criterion(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def _rate(images: np.ndarray, labels: np.ndarray, args: argparse.Namespace, repeat: int, model, prefetch: bool,
          cold: str | None) -> float:  # fmt: skip
    """Images/s over one epoch with the model, or over ``GATHER_IMAGES`` images' worth of epochs without."""
    passes = 1 if model is not None else max(1, GATHER_IMAGES // len(images))
    seconds = 0.0
    for k in range(passes):
        if cold is not None:
            _drop_page_cache(cold)
        seconds += _epoch(images, labels, args.batch_size, repeat * passes + k + 1, model, prefetch)
    return passes * len(images) / seconds


def throughput(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="beyond-memory-"))
    data = args.data or generate(work / "cxr", n=args.n, size=args.size, seed=0)
    index = index_dataset(data)
    nbytes = len(index) * args.size**2
    cfg = TrainConfig(data=data, image_size=args.size, cache_dir=work / "cache", batch_size=args.batch_size,
                      memory_budget_gb=nbytes / 3 / 2**30)  # fmt: skip
    memory = decode_dataset(index, args.size, cache_dir=work / "cache").images
    decoded = decode_images(index, cfg, args.size, skip_bad=False)
    memmap = decoded.images
    assert isinstance(memmap, np.memmap) and np.array_equal(memmap, memory)
    labels = decoded.index.labels
    print(f"{len(index)} images at {args.size} px: {nbytes / 2**20:.1f} MiB decoded, budget "
          f"{cfg.memory_budget_gb * 2**10:.1f} MiB -> memmap store {decoded.cache_file}", flush=True)  # fmt: skip
    torch.manual_seed(0)
    net = build_model("mobilenet_v2", num_classes=len(index.classes), weights="none", freeze_ratio=0.5, head="gap")
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    model = (net, WeightedCrossEntropy([1.0] * len(index.classes)), optimizer)
    runs: dict[str, list[float]] = {}
    cases = [
        ("train: memory", memory, model, True, False),
        ("train: memmap", memmap, model, True, False),
        ("train: memmap cold", memmap, model, True, True),
        ("gather only: memory", memory, None, True, False),
        ("gather only: memory, no prefetch", memory, None, False, False),
        ("gather only: memmap", memmap, None, True, False),
        ("gather only: memmap cold", memmap, None, True, True),
        ("gather only: memmap cold, no prefetch", memmap, None, False, True),
    ]
    _epoch(memory[:256], labels[:256], args.batch_size, 0, model)  # warm-up (allocator, kernels)
    for repeat in range(args.repeats):
        for name, images, with_model, prefetch, cold in cases:  # interleaved
            rate = _rate(images, labels, args, repeat, with_model, prefetch, str(decoded.cache_file) if cold else None)
            runs.setdefault(name, []).append(rate)
            print(f"  repeat {repeat + 1}: {name}: {rate:.1f} images/s", flush=True)
    if args.ray_data:
        runs["gather only: Ray Data"] = _ray_data(str(decoded.cache_file), args)
    rows = []
    for name, rates in runs.items():
        base = "train: memory" if name.startswith("train") else "gather only: memory"
        rows.append({"source": name, "images/s (median)": statistics.median(rates),
                     "min": min(rates), "max": max(rates),
                     "ratio to memory": statistics.median(rates) / statistics.median(runs[base])})  # fmt: skip
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def _ray_data(path: str, args: argparse.Namespace) -> list[float]:
    """Images/s of Ray Data streaming the same store: ``read_numpy`` → ``iter_torch_batches`` (local shuffle)."""
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        dataset = ray.data.read_numpy(path)
        rates = []
        for repeat in range(args.repeats):
            start, count = time.perf_counter(), 0
            while count < GATHER_IMAGES:  # epochs, each a new streaming execution
                for batch in dataset.iter_torch_batches(batch_size=args.batch_size, local_shuffle_buffer_size=256,
                                                        local_shuffle_seed=repeat):  # fmt: skip
                    batch["data"].float().sum()
                    count += len(batch["data"])
            rates.append(count / (time.perf_counter() - start))
        return rates
    finally:
        ray.shutdown()


def scale_one(args: argparse.Namespace) -> dict[str, float]:
    """One count, in this (fresh) process."""
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch, Ray …: before any work
    tracemalloc.start()
    cache = Path(tempfile.mkdtemp(prefix="beyond-memory-cache-"))
    kwargs = {"memory_budget_gb": args.budget_gb} if args.budget_gb else {}
    cfg = TrainConfig(data=args.csv, image_size=args.size, cache_dir=cache, **kwargs)
    times = {}
    start = time.perf_counter()
    index = task_index(cfg)
    times["index_s"] = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_images(index, cfg, args.size, skip_bad=False)
    times["decode_s"] = time.perf_counter() - start
    start = time.perf_counter()
    file_phashes(index.paths, hash_index(index), cache)
    times["hash_s"] = time.perf_counter() - start
    out = cache / "experiment"
    out.mkdir()
    start = time.perf_counter()
    create_partition(cfg, TestSpec(fraction=0.1, seed=0), out)  # decode and hashes now cached: the rest
    times["partition_rest_s"] = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    return {
        "images": len(index),
        "memmap": float(isinstance(decoded.images, np.memmap)),
        **times,
        "total_s": sum(times.values()),
        "rss_imports_mib": imported,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_python_mib": peak / 2**20,
    }


def scale(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.counts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="beyond-memory-scale-"))
    start = time.perf_counter()
    data = args.data or generate(work / "cxr", n=max(counts), size=args.size, seed=0)
    print(f"dataset {data} ({time.perf_counter() - start:.0f} s to generate)", flush=True)
    index = index_dataset(data)
    rows = []
    for count in counts:
        if count > len(index):
            raise SystemExit(f"--counts {count}: {data} has only {len(index)} images.")
        csv = work / f"sample{count}.csv"
        rows_ = np.sort(np.random.default_rng(0).permutation(len(index))[:count])  # every class, in proportion
        labels = [index.classes[k] for k in index.labels[rows_]]
        pd.DataFrame({"path": [str(index.paths[r]) for r in rows_], "label": labels}).to_csv(csv, index=False)
        command = [sys.executable, __file__, "--scale-one", "--csv", str(csv), "--size", str(args.size)]
        if args.budget_gb:
            command += ["--budget-gb", str(args.budget_gb)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.1f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an image folder instead of a generated synthetic set")
    parser.add_argument("--n", type=int, default=1500, help="throughput: synthetic images")
    parser.add_argument("--size", type=int, default=64, help="image size (and the synthetic files' size)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray-data", action="store_true", help="also time Ray Data's iter_torch_batches")
    parser.add_argument("--scale", action="store_true", help="time the driver's data preparation at --counts")
    parser.add_argument("--counts", default="21165,100000,200000")
    parser.add_argument("--budget-gb", type=float, help="scale: memory budget (default: the automatic one)")
    parser.add_argument("--scale-one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    if args.scale_one:
        print(json.dumps(scale_one(args)))
    elif args.scale:
        scale(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
