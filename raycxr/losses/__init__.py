"""Losses: the attention-based class-weighted loss, its class statistics, and baselines."""

from __future__ import annotations

from raycxr.losses._losses import (
    LOSSES,
    PAPER_ALPHA,
    FocalLoss,
    WeightedCrossEntropy,
    attention_alpha,
    build_loss,
    class_balanced_weights,
    inverse_frequency_weights,
    paper_alpha,
)
from raycxr.losses._stats import ClassStats, class_statistics

__all__ = [
    "LOSSES",
    "PAPER_ALPHA",
    "ClassStats",
    "FocalLoss",
    "WeightedCrossEntropy",
    "attention_alpha",
    "build_loss",
    "class_balanced_weights",
    "class_statistics",
    "inverse_frequency_weights",
    "paper_alpha",
]
