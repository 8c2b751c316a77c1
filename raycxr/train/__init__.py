"""Training: configuration, data preparation, the loop (single process or a Ray Train worker)."""

from __future__ import annotations

from raycxr.train._cli import add_config_options, config_from_args, run_from_args
from raycxr.train._config import TrainConfig, format_validation_error, load_yaml
from raycxr.train._data import PreparedData, make_splits, prepare_data, split_statistics, task_index
from raycxr.train._feed import steps_per_epoch, use_bf16
from raycxr.train._loop import (
    evaluate,
    evaluate_logits,
    evaluate_state,
    fit,
    resolve_device,
    scalars,
    train_one_epoch,
    training_loss,
)
from raycxr.train._model import model_for
from raycxr.train._state import FitResult, FitState

__all__ = [
    "FitResult",
    "FitState",
    "PreparedData",
    "TrainConfig",
    "add_config_options",
    "config_from_args",
    "evaluate",
    "evaluate_logits",
    "evaluate_state",
    "fit",
    "format_validation_error",
    "load_yaml",
    "make_splits",
    "model_for",
    "prepare_data",
    "resolve_device",
    "run_from_args",
    "scalars",
    "split_statistics",
    "steps_per_epoch",
    "task_index",
    "train_one_epoch",
    "training_loss",
    "use_bf16",
]
