"""Per-class (one-vs-rest) precision-recall curves and average precision, from sklearn."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve

from raycxr.evaluation._checks import check_labels_proba


@dataclasses.dataclass(frozen=True)
class PRCurve:
    """One-vs-rest precision-recall curve of one class.

    Attributes:
        class_index: The class (column of the probabilities).
        precision, recall, thresholds: As returned by ``sklearn.metrics.precision_recall_curve``.
        average_precision: ``sklearn.metrics.average_precision_score`` (step-wise area, no interpolation).
        positives: Rows of the class.
        prevalence: Fraction of rows of the class: the AP of a random ranking, the chance line of the plot.
    """

    class_index: int
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    positives: int
    prevalence: float


def _class_names(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    if len(class_names) != n_classes:
        raise ValueError(f"class_names must name the {n_classes} columns of proba, got {len(class_names)} names")
    return [str(name) for name in class_names]


def precision_recall_curves(y_true: np.ndarray, proba: np.ndarray) -> dict[int, PRCurve]:
    """One-vs-rest PR curve and average precision of every class, keyed by class index.

    Raises:
        ValueError: Bad labels/probabilities, or a class absent from ``y_true`` (its curve is undefined).
    """
    y, p = check_labels_proba(y_true, proba)
    counts = np.bincount(y, minlength=p.shape[1])
    absent = np.flatnonzero(counts == 0)
    if absent.size:
        raise ValueError(f"class {absent[0]} has no rows in y_true: its precision-recall curve is undefined")
    curves = {}
    for k in range(p.shape[1]):
        is_k = (y == k).astype(int)
        precision, recall, thresholds = precision_recall_curve(is_k, p[:, k])
        ap = float(average_precision_score(is_k, p[:, k]))
        curves[k] = PRCurve(k, precision, recall, thresholds, ap, int(counts[k]), float(counts[k] / len(y)))
    return curves


def average_precision_table(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per class: ``class``, ``positives``, ``prevalence``, ``average_precision``.

    Raises:
        ValueError: As :func:`precision_recall_curves`, or ``class_names`` of the wrong length.
    """
    curves = precision_recall_curves(y_true, proba)
    names = _class_names(class_names, len(curves))
    return pd.DataFrame(
        {
            "class": names,
            "positives": [curve.positives for curve in curves.values()],
            "prevalence": [curve.prevalence for curve in curves.values()],
            "average_precision": [curve.average_precision for curve in curves.values()],
        }
    )
