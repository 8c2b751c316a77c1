"""One search trial: the parameters Optuna suggested, trained by :func:`raycxr.train.fit`.

``search_job`` is the job the run layer (:mod:`raycxr.run`) runs for every trial, in the
Tune trial itself or in each worker of a Ray Train run: it trains the trial's
configuration on the search's training rows, early-stops on its validation rows and
reports every epoch with a checkpoint, so a restarted trial continues where it stopped.

The decoded images live once in Ray's object store, or beyond memory in a memory-mapped
store (``ExperimentData.images`` holds an :class:`~raycxr.run.ImageStore` per size); every
run maps them zero-copy, so no trial decodes an image.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import ray
import torch

from raycxr.data import Split
from raycxr.evaluation import TASK_METRICS
from raycxr.losses import ClassStats
from raycxr.run import ImageStore, RunContext
from raycxr.train import FitState, TrainConfig, fit, model_for, resolve_device, use_bf16
from raycxr.tune._measure import model_metrics
from raycxr.tune._space import SearchSpace

#: Metrics each epoch's report carries besides ``val_*`` of that epoch.
BEST_PREFIX = "best_val_"


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
        images: The ``(N, S, S)`` uint8 images (in the object store or a memmap store), per
            image size S a trial may train at.
        labels: ``(N,)`` labels.
        classes: Class names in label order.
        split: The rows the search trains and validates on (its ``test`` part is empty:
            no trial evaluates rows that nothing reads).
        stats: Attention-loss class statistics of ``split.train`` (``None`` when no trial
            can use that loss).
        configs: Maps a trial's parameters to its training configuration.
        measure: Model metrics (of ``latency_ms``, ``macs``, ``params``) each trial measures
            once and reports with every epoch: those an objective or constraint names.
        stoppable: A scheduler (ASHA) may stop a trial after any epoch (see ``fit``'s ``stoppable``).
    """

    images: dict[int, ImageStore]
    labels: np.ndarray
    classes: tuple[str, ...]
    split: Split
    stats: ClassStats | None
    configs: TrialConfigs
    measure: tuple[str, ...] = ()
    stoppable: bool = False


def best_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """``best_val_*``: the validation metrics of the early-stopping epoch so far."""
    if not history:
        return {}
    best = history[int(history[-1]["best_epoch"]) - 1]
    keys = ("loss", *TASK_METRICS)
    return {BEST_PREFIX + k: best[f"val_{k}"] for k in keys if f"val_{k}" in best}


def measure_model(model: torch.nn.Module, cfg: TrainConfig, names: tuple[str, ...]) -> dict[str, float]:
    """The model metrics ``names`` of ``model`` on its device: one image at ``cfg.image_size``, batch 1."""
    if not names:
        return {}
    device = next(model.parameters()).device
    example = torch.zeros(1, cfg.image_size, cfg.image_size, dtype=torch.uint8, device=device)
    return model_metrics(model, example, names, bf16=use_bf16(cfg.precision, device))


def search_job(params: dict[str, Any], data: ExperimentData, context: RunContext) -> None:
    """Train one trial's configuration, reporting (with a checkpoint) every epoch.

    After a restart the run layer hands back the latest checkpoint; ``fit`` continues from it.
    The model metrics ``data.measure`` are measured on the model after its first epoch (in
    this process) and go with every report.
    """
    cfg = data.configs.train_config(params)
    images = data.images[cfg.image_size].get()  # the object store zero-copy, or the memmap store
    resume = context.restored_state()
    where = {
        "world_size": context.world_size,
        "node": ray.get_runtime_context().get_node_id(),  # of this worker (rank 0's is what Tune keeps)
        "resumed_from_epoch": int(resume["epoch"]) if resume is not None else 0,
    }
    reported = False
    measured: dict[str, float] | None = None

    def on_epoch(row: dict[str, float], state: FitState, is_best: bool) -> None:
        nonlocal reported, measured
        if measured is None:  # rank 0's report is the one Tune keeps
            measured = measure_model(state.model, cfg, data.measure) if context.rank == 0 else {}
        context.report({**row, **best_metrics(state.history), **where, **measured}, state.state_dict())
        reported = True

    fit(cfg, images, data.labels, data.classes, data.split, data.stats, on_epoch=on_epoch, resume=resume,
        stoppable=data.stoppable)
    if not reported and resume is not None and resume["history"]:
        # Restored from the checkpoint of its last epoch (the driver died before Tune saw the
        # trial end): no epoch ran, so say the final result again, else Tune has none.
        history = resume["history"]
        if data.measure and context.rank == 0:
            device = resolve_device(cfg.device)
            model = model_for(cfg, len(data.classes), weights="none")
            model.load_state_dict(resume["best_model"])
            model.to(device)
            if device.type == "cuda":
                model.to_channels_last()  # as fit runs it
            measured = measure_model(model, cfg, data.measure)
        context.report({**history[-1], **best_metrics(history), **where, **(measured or {})}, resume)
