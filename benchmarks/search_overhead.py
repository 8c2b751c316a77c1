"""Orchestration overhead of a search, both execution paths side by side in one run.

Starts one local Ray (``--cpus``), then runs the same N-trial search (synthetic data, one
1-CPU worker per trial) twice: trials trained in the Tune trial with actors reused
(``--trainer function``) and trials as Ray Train runs (``--trainer train``). From each
trial's own reports:

* **epochs** = Σ over its epochs of ``epoch_s`` (training + validation, timed inside ``fit``);
* **fit setup** = ``setup_s``: what ``fit`` computes before its first epoch (the model built with
  its weights, the frozen-prefix cache: the frozen layers' forward pass over the images, once
  instead of every epoch). A plain ``fit`` in one process does the same work: it is training;
* **start-up** = its first report's ``time_this_iter_s`` (Tune's clock from the trial's start)
  − its first epoch's ``epoch_s`` − ``setup_s``: what the search adds before ``fit`` starts
  (actor or Train worker group, data mapping, configuration);
* **report** = every later epoch's ``time_this_iter_s`` − ``epoch_s``: what an epoch costs besides
  training and validation (its checkpoint written and persisted, the report taken by the driver);
* **overhead** = (wall − Σ (epochs + fit setup) / concurrency) / wall, wall = ``run_search``
  after Ray is up: the share of the wall time the search adds to the trials' own ``fit`` work.
  ``epochs only`` counts the fit setup as overhead too (how earlier versions measured it).

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


def _trial_times(directory: Path) -> tuple[list[float], list[float], list[float], list[float]]:
    """(start-up, epochs, fit setup, per-epoch report) seconds of every trial of a finished search."""
    startup, epochs, setup, report = [], [], [], []
    for result in sorted(directory.glob("trial_*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        setup.append(rows[0]["setup_s"])
        startup.append(rows[0]["time_this_iter_s"] - rows[0]["epoch_s"] - rows[0]["setup_s"])
        epochs.append(sum(r["epoch_s"] for r in rows))
        report += [r["time_this_iter_s"] - r["epoch_s"] for r in rows[1:]]
    return startup, epochs, setup, report


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
                startup, epochs, setup, report = _trial_times(root / "runs" / trainer)
                rows.append((trainer, wall, sum(epochs), sum(setup), startup, report))
        finally:
            ray.shutdown()

    print()
    print(f"{args.trials} trials × {args.epochs} epochs, {args.images} images of 64 px, concurrency {args.concurrency}")
    print()
    print(
        "| path | search wall s | Σ epochs s | Σ fit setup s | overhead | overhead, epochs only "
        "| start-up median s | min s | max s | report median s | Σ report s | wall ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[-1][1]
    c = args.concurrency
    for trainer, wall, epochs, setup, startup, report in rows:
        overhead, epochs_only = (wall - (epochs + setup) / c) / wall, (wall - epochs / c) / wall
        print(
            f"| {trainer} | {wall:.1f} | {epochs:.1f} | {setup:.1f} | {100 * overhead:.1f} % "
            f"| {100 * epochs_only:.1f} % | {statistics.median(startup):.2f} | {min(startup):.2f} | {max(startup):.2f} "
            f"| {statistics.median(report or [0]):.3f} | {sum(report):.1f} | {wall / base:.2f} |"
        )
    print()
    print("wall ratio: the path's wall time over the last path's (same run, same machine).")


if __name__ == "__main__":
    main()
