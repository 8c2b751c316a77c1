"""Orchestration overhead of a search: its wall time against the pure training time of its trials.

Runs an N-trial search (local Ray, one 1-CPU worker per trial) on synthetic data, then
trains the very same N configurations with ``raycxr.train.fit`` in this process, one
thread each (what a 1-CPU Ray worker gets), and prints:

* the search's wall time (Ray start, data preparation, Tune, Train, everything) against
  the sum of pure training times divided by the concurrency (a perfect scheduler's time),
* each trial's start-up cost: Tune's time for the trial minus its pure training time.

    python benchmarks/search_overhead.py --trials 4 --concurrency 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from raycxr.data.synthetic import generate
from raycxr.train import TrainConfig, fit, prepare_data, split_statistics
from raycxr.tune import SearchSpace, TuneSettings, run_search

SPACE = """
params:
  freeze_ratio: {type: float, low: 0.3, high: 0.9}
  beta: {type: float, low: 0.0, high: 0.1}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""
SETTINGS = ["image_size=64", "folds=5", "batch_size=16", "head=gap", "stats_samples=200"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("RAYCXR_CACHE", str(root / "cache"))
        data = generate(root / "cxr", n=args.images, size=64, seed=0, workers=2)
        space_file = root / "space.yaml"
        space_file.write_text(SPACE)
        settings = TuneSettings(
            space=str(space_file),
            data=data,
            storage=str(root / "runs"),
            name="bench",
            num_samples=args.trials,
            max_concurrent=args.concurrency,
            set=[*SETTINGS, f"epochs={args.epochs}", f"patience={args.epochs}"],
        )
        start = time.perf_counter()
        result = run_search(settings)
        wall = time.perf_counter() - start

        # The same configurations, trained directly: one thread, as a 1-CPU Ray worker.
        torch.set_num_threads(1)
        space = SearchSpace.model_validate(result.plan.space.model_dump())
        base = result.plan.base
        cfg0 = TrainConfig(**{**space.fixed, **base, "data": data})
        prepared = prepare_data(cfg0)
        split = prepared.splits[cfg0.fold]
        stats = split_statistics(prepared, split, cfg0)
        pure, startup = [], []
        for _, row in result.trials.iterrows():
            params = {k.removeprefix("param_"): row[k] for k in row.index if k.startswith("param_")}
            cfg = TrainConfig(**space.settings(params, base))
            t0 = time.perf_counter()
            fit(cfg, prepared.images, prepared.labels, prepared.classes, split, stats)
            pure.append(time.perf_counter() - t0)
            startup.append(row["seconds"] - pure[-1])

    ideal = sum(pure) / args.concurrency
    print()
    print("| trials | concurrency | search wall s | Σ pure training s | ideal wall s | overhead | ratio |")
    print("|-------:|------------:|--------------:|------------------:|-------------:|---------:|------:|")
    print(
        f"| {args.trials:6d} | {args.concurrency:11d} | {wall:13.1f} | {sum(pure):17.1f} | {ideal:12.1f} "
        f"| {100 * (wall - ideal) / ideal:7.0f}% | {wall / ideal:5.2f} |"
    )
    print()
    print("| per trial                              | mean s | min s | max s |")
    print("|----------------------------------------|-------:|------:|------:|")
    for label, values in (("pure training (fit, 1 thread)", pure), ("start-up (Tune trial time − pure)", startup)):
        print(f"| {label:38s} | {statistics.mean(values):6.1f} | {min(values):5.1f} | {max(values):5.1f} |")


if __name__ == "__main__":
    main()
