"""Losses: a registry of class-weighted and multi-label losses, their class statistics, and logits helpers.

Every loss is declared once, with :func:`register_loss`, by its name, builder, the
TrainConfig fields it reads (:class:`ParamSpec`: default and valid range) and its needs
(class statistics, a binary task, a multi-label task); :func:`build_loss` makes one by name,
for either kind of task (:func:`check_loss_task` refuses a loss of the other kind).
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
from raycxr.losses._multilabel import (  # importing it registers the multi-label losses
    AsymmetricLoss,
    MultiLabelBCE,
    MultiLabelFocalLoss,
    masked_mean,
    positive_weights,
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
    check_loss_task,
    loss_fields,
    loss_params,
    loss_spec,
    multilabel_losses,
    register_loss,
    single_label_losses,
    smoothing_losses,
)
from raycxr.losses._stats import ClassStats, class_statistics

__all__ = [
    "LOSSES",
    "PAPER_ALPHA",
    "AsymmetricLoss",
    "BinaryFocalLoss",
    "ClassStats",
    "FocalLoss",
    "LossBuilder",
    "LossSpec",
    "MultiLabelBCE",
    "MultiLabelFocalLoss",
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
    "check_loss_task",
    "class_balanced_weights",
    "class_statistics",
    "inverse_frequency_weights",
    "is_loss_metric",
    "loss_fields",
    "loss_params",
    "loss_spec",
    "masked_mean",
    "multilabel_losses",
    "paper_alpha",
    "positive_weights",
    "probabilities",
    "register_loss",
    "scale_parameters",
    "single_label_losses",
    "smoothing_losses",
]
