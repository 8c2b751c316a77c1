"""One Tune trial = one Ray Train run of the core training loop.

``run_trial`` is the function trainable: Tune calls it with the parameters Optuna
suggested; it builds a :class:`~ray.train.torch.TorchTrainer` whose workers
(``train_worker``) run :func:`raycxr.train.fit` — under DistributedDataParallel when there
is more than one — and report every epoch to Tune through ``TuneReportCallback``.

The decoded images live once in Ray's object store (``ExperimentData.images`` is an
``ObjectRef``); each worker maps them zero-copy, so no trial decodes an image.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.train
import ray.tune
import torch
from ray.train.torch import TorchTrainer
from ray.train.v2._internal.execution import context as train_context
from ray.tune.integration.ray_train import TuneReportCallback

from raycxr.data import Split
from raycxr.losses import ClassStats
from raycxr.train import SCALAR_METRICS, FitState, TrainConfig, fit
from raycxr.train._cli import jsonable
from raycxr.tune._space import SearchSpace

CHECKPOINT_FILE = "state.pt"
#: Metrics each epoch's report carries besides ``val_*`` of that epoch.
BEST_PREFIX = "best_val_"


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Resources of one trial's Ray Train run."""

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_failures: int = 0

    def config(self) -> ray.train.ScalingConfig:
        resources = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker:
            resources["GPU"] = self.gpus_per_worker
        return ray.train.ScalingConfig(
            num_workers=self.workers, use_gpu=self.gpus_per_worker > 0, resources_per_worker=resources
        )


@dataclasses.dataclass(frozen=True)
class TrialConfigs:
    """Maps a trial's parameters to its full training configuration."""

    space: SearchSpace
    base: dict[str, Any]

    def train_config(self, params: dict[str, Any]) -> TrainConfig:
        """The full training configuration of a trial with ``params``."""
        return TrainConfig(**self.space.settings(params, self.base)).check()


@dataclasses.dataclass(frozen=True)
class ExperimentData:
    """What every trial reads: prepared once by the driver, shipped by reference.

    Attributes:
        images: ``ObjectRef`` of the ``(N, S, S)`` uint8 array in the object store.
        labels: ``(N,)`` labels.
        classes: Class names in label order.
        split: The train/validation/test rows the search trains and validates on.
        stats: Attention-loss class statistics of ``split.train`` (``None`` when no trial
            can use that loss).
        configs: Maps a trial's parameters to its training configuration.
        scaling: Resources of each trial.
        train_storage: Where the trials' Train runs keep their checkpoints.
    """

    images: ray.ObjectRef
    labels: np.ndarray
    classes: tuple[str, ...]
    split: Split
    stats: ClassStats | None
    configs: TrialConfigs
    scaling: Scaling
    train_storage: str


def best_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """``best_val_*``: the validation metrics of the early-stopping epoch so far."""
    if not history:
        return {}
    best = history[int(history[-1]["best_epoch"]) - 1]
    keys = ("loss", *SCALAR_METRICS)
    return {BEST_PREFIX + k: best[f"val_{k}"] for k in keys if f"val_{k}" in best}


def resume_state() -> dict[str, Any] | None:
    """The ``FitState`` of this Train run's latest checkpoint (after a restart), else ``None``."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        path = Path(directory) / CHECKPOINT_FILE
        return torch.load(path, weights_only=True) if path.is_file() else None


def report(metrics: dict[str, Any], state: dict[str, Any] | None, files: dict[str, Any] | None = None) -> None:
    """``ray.train.report`` from every worker; rank 0 attaches a checkpoint of ``state`` (and ``files``).

    Args:
        metrics: The scalars to report.
        state: A ``FitState.state_dict()`` (``None``: no training state in the checkpoint).
        files: More content for the checkpoint: ``*.json`` names → JSON-able objects,
            other names → objects for ``torch.save`` (tensors, not numpy arrays).
    """
    if ray.train.get_context().get_world_rank() != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        if state is not None:
            torch.save(state, Path(directory) / CHECKPOINT_FILE)
        for name, content in (files or {}).items():
            if name.endswith(".json"):
                (Path(directory) / name).write_text(json.dumps(jsonable(content)))
            else:
                torch.save(content, Path(directory) / name)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))


def quiet_train_logs() -> None:
    """Ray Train logs every report and checkpoint (whole metric dicts) at INFO; Tune's table says it."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    # The per-report line ("Reporting training result …") comes from a logger named after its file.
    logging.getLogger(train_context.__file__).setLevel(logging.WARNING)


def train_worker(loop_config: dict[str, Any]) -> None:
    """Per-worker loop: ``fit`` with a report (and, on rank 0, a checkpoint) every epoch.

    After a worker failure or a resumed experiment Ray Train hands back the latest
    checkpoint; ``fit`` continues from it.
    """
    quiet_train_logs()
    data: ExperimentData = loop_config["data"]
    cfg = TrainConfig(**loop_config["train"])
    images = ray.get(data.images)  # zero-copy view of the object store
    resume = resume_state()
    where = {
        "world_size": ray.train.get_context().get_world_size(),
        "node": ray.get_runtime_context().get_node_id(),  # of this worker (rank 0's is what Tune keeps)
        "resumed_from_epoch": int(resume["epoch"]) if resume is not None else 0,
    }

    reported = False

    def on_epoch(row: dict[str, float], state: FitState, is_best: bool) -> None:
        nonlocal reported
        report({**row, **best_metrics(state.history), **where}, state.state_dict())
        reported = True

    fit(cfg, images, data.labels, data.classes, data.split, data.stats, on_epoch=on_epoch, resume=resume)
    if not reported and resume is not None and resume["history"]:
        # Restored from the checkpoint of its last epoch (the driver died before Tune saw the
        # trial end): no epoch ran, so say the final result again, else Tune has none.
        history = resume["history"]
        report({**history[-1], **best_metrics(history), **where}, resume)


def train_run(worker: Any, loop_config: dict[str, Any], scaling: Scaling, storage: str) -> None:
    """Run ``worker`` as a Ray Train run for the current Tune trial, reporting to Tune."""
    trainer = TorchTrainer(
        worker,
        train_loop_config=loop_config,
        scaling_config=scaling.config(),
        run_config=ray.train.RunConfig(
            # Stable across restarts of the trial, so Ray Train resumes from its checkpoint.
            name=f"train-{ray.tune.get_context().get_trial_id()}",
            storage_path=storage,
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            failure_config=ray.train.FailureConfig(max_failures=scaling.max_failures),
        ),
    )
    trainer.fit()


def run_trial(params: dict[str, Any], data: ExperimentData) -> None:
    """Tune's function trainable: one Ray Train run of ``params``' configuration."""
    cfg = data.configs.train_config(params)
    train_run(train_worker, {"train": cfg.model_dump(), "data": data}, data.scaling, data.train_storage)
