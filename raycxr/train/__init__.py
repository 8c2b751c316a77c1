"""Training: configuration, data preparation, the loop (single process or a Ray Train worker)."""

from __future__ import annotations

from raycxr.train._config import TrainConfig
from raycxr.train._data import PreparedData, make_splits, prepare_data, split_statistics
from raycxr.train._loop import (
    FitResult,
    FitState,
    evaluate,
    evaluate_state,
    fit,
    resolve_device,
    scalars,
    train_one_epoch,
)
from raycxr.train._metrics import SCALAR_METRICS, classification_metrics

__all__ = [
    "SCALAR_METRICS",
    "FitResult",
    "FitState",
    "PreparedData",
    "TrainConfig",
    "classification_metrics",
    "evaluate",
    "evaluate_state",
    "fit",
    "make_splits",
    "prepare_data",
    "resolve_device",
    "scalars",
    "split_statistics",
    "train_one_epoch",
]
