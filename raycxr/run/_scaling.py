"""What one run (a search trial, a CV fold) holds on the cluster, and which path runs it."""

from __future__ import annotations

import dataclasses
from typing import Literal

import ray.train

#: ``auto``: a one-worker run trains inside the Tune trial itself (actors reused, torch imported
#: once per actor); a run of several workers is a Ray Train ``TorchTrainer`` (DDP).
#: ``function`` / ``train`` force one path.
Trainer = Literal["auto", "function", "train"]
TRAINERS: tuple[str, ...] = ("auto", "function", "train")
#: A Train-path trial only drives its Train run; the workers hold the CPUs and GPUs. Tune refuses
#: an all-zero request, so the driver asks for a token amount of memory.
TRIAL_DRIVER_RESOURCES = {"cpu": 0, "memory": 64 * 2**20}


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Resources of one run, and whether it runs as a Ray Train run or in the Tune trial.

    Attributes:
        workers: Training processes of one run (DDP when > 1; needs the Train path).
        cpus_per_worker: CPUs each worker holds.
        gpus_per_worker: GPUs each worker holds (fractions share a GPU).
        max_failures: Ray Train's retries of a failed worker group (Train path).
        trainer: ``auto``, ``function`` or ``train`` (see :data:`Trainer`).
    """

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_failures: int = 0
    trainer: Trainer = "auto"

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"--trainer: expected one of {', '.join(TRAINERS)}, got {self.trainer!r}.")
        if self.workers < 1:
            raise ValueError(f"--workers-per-trial must be at least 1, got {self.workers}.")
        if self.cpus_per_worker < 0 or self.gpus_per_worker < 0:
            raise ValueError("--cpus-per-worker and --gpus-per-worker must not be negative.")
        if self.cpus_per_worker == 0 and self.gpus_per_worker == 0:
            raise ValueError("--cpus-per-worker 0 needs --gpus-per-worker > 0: a worker must hold something.")
        if self.workers > 1 and self.trainer == "function":
            raise ValueError(
                f"--trainer function runs one worker per trial; --workers-per-trial {self.workers} needs "
                "--trainer train (or auto)."
            )
        if self.uses_train and self.cpus_per_worker == 0:
            raise ValueError("--trainer train needs --cpus-per-worker > 0: each Ray Train worker holds a CPU.")

    @property
    def uses_train(self) -> bool:
        """True when runs are Ray Train runs (``TorchTrainer``), False when they train in the trial."""
        return self.trainer == "train" or (self.trainer == "auto" and self.workers > 1)

    def trial_resources(self) -> dict[str, float]:
        """What Tune reserves for one trial: the worker itself, or only a driver of a Train run."""
        if self.uses_train:
            return dict(TRIAL_DRIVER_RESOURCES)
        resources = {"cpu": self.cpus_per_worker}
        if self.gpus_per_worker:
            resources["gpu"] = self.gpus_per_worker
        return resources

    def config(self) -> ray.train.ScalingConfig:
        """Ray Train's ``ScalingConfig`` of a Train-path run."""
        resources = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker:
            resources["GPU"] = self.gpus_per_worker
        return ray.train.ScalingConfig(
            num_workers=self.workers, use_gpu=self.gpus_per_worker > 0, resources_per_worker=resources
        )
