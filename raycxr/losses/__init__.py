"""Losses: a registry of class-weighted losses, their class statistics, and logits helpers.

Every loss is declared once, with :func:`register_loss`, by its name, builder, the
TrainConfig fields it reads (:class:`ParamSpec`: default and valid range) and its needs
(class statistics, a binary task); :func:`build_loss` makes one by name.
"""

from __future__ import annotations

from raycxr.losses._logits import as_class_logits, binary_logit, probabilities
from raycxr.losses._losses import (  # importing it registers the losses
    PAPER_ALPHA,
    BinaryFocalLoss,
    FocalLoss,
    WeightedCrossEntropy,
    attention_alpha,
    balanced_weights,
    class_balanced_weights,
    inverse_frequency_weights,
    paper_alpha,
)
from raycxr.losses._objective import check_loss_objective, is_loss_metric, scale_parameters
from raycxr.losses._registry import (
    LOSSES,
    LossBuilder,
    LossSpec,
    ParamSpec,
    build_loss,
    check_label_smoothing,
    check_loss_field,
    check_loss_params,
    loss_fields,
    loss_params,
    loss_spec,
    register_loss,
    smoothing_losses,
)
from raycxr.losses._stats import ClassStats, class_statistics

__all__ = [
    "LOSSES",
    "PAPER_ALPHA",
    "BinaryFocalLoss",
    "ClassStats",
    "FocalLoss",
    "LossBuilder",
    "LossSpec",
    "ParamSpec",
    "WeightedCrossEntropy",
    "as_class_logits",
    "attention_alpha",
    "balanced_weights",
    "binary_logit",
    "build_loss",
    "check_label_smoothing",
    "check_loss_field",
    "check_loss_objective",
    "check_loss_params",
    "class_balanced_weights",
    "class_statistics",
    "inverse_frequency_weights",
    "is_loss_metric",
    "loss_fields",
    "loss_params",
    "loss_spec",
    "paper_alpha",
    "probabilities",
    "register_loss",
    "scale_parameters",
    "smoothing_losses",
]
