"""Orchestration overhead of a search, both execution paths side by side in one run.

Starts one local Ray (``--cpus``), then runs the same N-trial search (synthetic data, one
1-CPU worker per trial) twice: trials trained in the Tune trial with actors reused
(``--trainer function``) and trials as Ray Train runs (``--trainer train``). From each
trial's own reports:

* **training** = Σ over its epochs of ``epoch_s`` (training + validation, timed inside ``fit``);
* **start-up** = its first report's ``time_this_iter_s`` (Tune's clock from the trial's
  start) − its first epoch's ``epoch_s``: everything before the first training step
  (actor or Train worker group, torch import, data mapping, model build, frozen-prefix cache);
* **report** = every later epoch's ``time_this_iter_s`` − ``epoch_s``: what an epoch costs besides
  training and validation (its checkpoint written and persisted, the report taken by the driver);
* **overhead** = (wall − Σ training / concurrency) / wall, wall = ``run_search`` after Ray is up.

    python benchmarks/search_overhead.py                       # 16 trials, concurrency 2
    python benchmarks/search_overhead.py --trials 4 --epochs 2  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import ray

from raycxr.data.synthetic import generate
from raycxr.tune import TuneSettings, run_search

SPACE = """
params:
  freeze_ratio: {type: float, low: 0.3, high: 0.9}
  beta: {type: float, low: 0.0, high: 0.1}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""
SETTINGS = ["image_size=64", "folds=5", "batch_size=16", "head=gap", "stats_samples=200"]


def _trial_times(directory: Path) -> tuple[list[float], list[float], list[float]]:
    """(start-up, training, per-epoch report) seconds of every trial of a finished search."""
    startup, training, report = [], [], []
    for result in sorted(directory.glob("trial_*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        startup.append(rows[0]["time_this_iter_s"] - rows[0]["epoch_s"])
        training.append(sum(r["epoch_s"] for r in rows))
        report += [r["time_this_iter_s"] - r["epoch_s"] for r in rows[1:]]
    return startup, training, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--paths", default="function,train", help="which paths to run, comma-separated")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("RAYCXR_CACHE", str(root / "cache"))
        data = generate(root / "cxr", n=args.images, size=64, seed=0, workers=2)
        space_file = root / "space.yaml"
        space_file.write_text(SPACE)
        ray.init(num_cpus=args.cpus, include_dashboard=True, log_to_driver=False)
        try:
            for trainer in args.paths.split(","):
                settings = TuneSettings(
                    space=str(space_file),
                    data=data,
                    storage=str(root / "runs"),
                    name=trainer,
                    num_samples=args.trials,
                    max_concurrent=args.concurrency,
                    trainer=trainer,
                    set=[*SETTINGS, f"epochs={args.epochs}", f"patience={args.epochs}"],
                )
                start = time.perf_counter()
                result = run_search(settings)
                wall = time.perf_counter() - start
                assert (result.trials["status"] == "completed").all(), result.trials[["status", "error"]]
                startup, training, report = _trial_times(root / "runs" / trainer)
                ideal = sum(training) / args.concurrency
                rows.append((trainer, wall, sum(training), (wall - ideal) / wall, startup, report))
        finally:
            ray.shutdown()

    print()
    print(f"{args.trials} trials × {args.epochs} epochs, {args.images} images of 64 px, concurrency {args.concurrency}")
    print()
    print(
        "| path | search wall s | Σ training s | overhead | start-up median s | min s | max s "
        "| report median s | Σ report s | wall ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[-1][1]
    for trainer, wall, training, overhead, startup, report in rows:
        print(
            f"| {trainer} | {wall:.1f} | {training:.1f} | {100 * overhead:.1f} % | {statistics.median(startup):.2f} "
            f"| {min(startup):.2f} | {max(startup):.2f} | {statistics.median(report or [0]):.3f} | {sum(report):.1f} "
            f"| {wall / base:.2f} |"
        )
    print()
    print("wall ratio: the path's wall time over the last path's (same run, same machine).")


if __name__ == "__main__":
    main()
