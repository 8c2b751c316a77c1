"""External validation across datasets: a model trained on one dataset scored on another's shared labels.

``python -m raycxr.evaluate MODEL --data PATH``: both label spaces mapped to the common one
(:data:`raycxr.data.COMMON_LABELS`), the model scored on the labels both have with its
validation-chosen thresholds, per-label and macro AUC / AP / F1 with patient-bootstrap intervals.
"""

from __future__ import annotations

from raycxr.evaluate._align import Alignment, align_labels, label_map
from raycxr.evaluate._external import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    RECORD_FILE,
    ExternalData,
    ExternalResult,
    external_data,
    external_validation,
)

__all__ = [
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "RECORD_FILE",
    "Alignment",
    "ExternalData",
    "ExternalResult",
    "align_labels",
    "external_data",
    "external_validation",
    "label_map",
]
