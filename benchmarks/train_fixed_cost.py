"""The fixed cost of one Ray Train run, and raycxr's share of it.

A search trial on the Train path (``--trainer train``, or several workers per trial) drives a
``TorchTrainer``: Ray Train starts its controller, a placement group and a worker group whose
workers import the job's code and join a torch process group, before the job trains anything.
This benchmark times ``TorchTrainer(...).fit()`` on one local Ray, ``--repeats`` times each, for
train loops that do nothing but:

* ``empty`` — return at once: Ray Train's own cost of a run (controller, placement group,
  worker group, ``gloo`` process group, shutdown);
* ``import torch`` — import torch and torchvision (what any PyTorch job imports);
* ``import raycxr`` — import what a raycxr search trial imports (``raycxr.tune._trial``):
  the difference to ``import torch`` is raycxr's own share;
* ``report`` — ``import raycxr`` plus one ``ray.train.report`` with a checkpoint the size of
  a 64-px MobileNetV2 search checkpoint (25 MB), as every epoch of a trial does.

Each run's worker is a new process (Ray Train starts its worker actors per run), so every
run pays its imports again. Ratios are to ``empty`` measured in the same run.

    python benchmarks/train_fixed_cost.py             # 3 runs of each
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray
import ray.train
from ray.train.torch import TorchTrainer


def _loop(config: dict) -> None:
    kind = config["kind"]
    if kind == "empty":
        return
    import torch
    import torchvision  # noqa: F401

    if kind == "import torch":
        return
    import raycxr.tune._trial  # noqa: F401

    if kind == "report":
        import torch

        with tempfile.TemporaryDirectory() as directory:
            torch.save({"weights": torch.zeros(25 * 2**20 // 4)}, Path(directory) / "state.pt")
            ray.train.report({"epoch": 1}, checkpoint=ray.train.Checkpoint.from_directory(directory))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    kinds = ("empty", "import torch", "import raycxr", "report")
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as storage:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            for repeat in range(args.repeats):
                for kind in kinds:  # interleaved: the machine's drift hits every kind alike
                    trainer = TorchTrainer(
                        _loop,
                        train_loop_config={"kind": kind},
                        scaling_config=ray.train.ScalingConfig(num_workers=1),
                        run_config=ray.train.RunConfig(name=f"{kind.replace(' ', '-')}-{repeat}", storage_path=storage),
                    )
                    start = time.perf_counter()
                    trainer.fit()
                    seconds[kind].append(time.perf_counter() - start)
        finally:
            ray.shutdown()
    base = statistics.median(seconds["empty"])
    print()
    print(f"TorchTrainer(...).fit() of one 1-worker run, {args.repeats} runs each, local Ray with {args.cpus} CPUs")
    print()
    print("| train loop | median s | min s | max s | − empty s | ratio to empty |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in kinds:
        values = seconds[kind]
        median = statistics.median(values)
        print(f"| {kind} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | {median - base:+.2f} "
              f"| {median / base:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
