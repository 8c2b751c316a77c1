"""Training: configuration, data preparation, the loop (single process or a Ray Train worker)."""

from __future__ import annotations

from raycxr.train._config import TrainConfig
from raycxr.train._data import PreparedData, make_splits, prepare_data, split_statistics, task_index
from raycxr.train._loop import (
    FitResult,
    FitState,
    evaluate,
    evaluate_state,
    fit,
    resolve_device,
    scalars,
    train_one_epoch,
    training_loss,
)
from raycxr.train._model import model_for

__all__ = [
    "FitResult",
    "FitState",
    "PreparedData",
    "TrainConfig",
    "evaluate",
    "evaluate_state",
    "fit",
    "make_splits",
    "model_for",
    "prepare_data",
    "resolve_device",
    "scalars",
    "split_statistics",
    "task_index",
    "train_one_epoch",
    "training_loss",
]
