"""Classification metrics from scikit-learn, as a flat JSON-ready dict."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

#: Scalar metrics, each a float in the dict :func:`classification_metrics` returns.
SCALAR_METRICS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "auc_ovr_macro",
)
#: Scalars a two-class task adds: the second class is the positive one, predicted when its
#: probability reaches ``threshold`` (chosen on validation).
BINARY_METRICS = ("sensitivity_pos", "specificity_pos", "ppv", "npv", "threshold")


def youden_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The score threshold maximising Youden's J = sensitivity + specificity − 1 (0.5 when undefined)."""
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, score)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def _auc(y_true: np.ndarray, proba: np.ndarray, labels: list[int]) -> float:
    """One-vs-rest macro AUC; NaN when a class is absent from ``y_true`` (undefined)."""
    if len(np.unique(y_true)) < len(labels):
        return float("nan")
    if len(labels) == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str], threshold: float | None = None
) -> dict[str, object]:
    """Accuracy, precision / recall / F1 (macro and weighted), one-vs-rest AUC, confusion
    matrix, and per-class sensitivity and specificity; for two classes also sensitivity,
    specificity, PPV and NPV of the second (positive) class.

    Args:
        y_true: True labels, shape ``(N,)``.
        proba: Predicted class probabilities, shape ``(N, K)``.
        classes: Class names, in label order.
        threshold: Two classes only: predict the second when its probability is at least
            this (default 0.5, i.e. the arg max).
    """
    labels = list(range(len(classes)))
    if len(classes) == 2 and threshold is not None:
        y_pred = (proba[:, 1] >= threshold).astype(np.int64)
    else:
        y_pred = proba.argmax(axis=1)
    out: dict[str, object] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        out |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
    out["auc_ovr_macro"] = _auc(y_true, proba, labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = tp / (tp + fn)
        specificity = tn / (tn + fp)
    out["sensitivity"] = {c: float(v) for c, v in zip(classes, sensitivity)}
    out["specificity"] = {c: float(v) for c, v in zip(classes, specificity)}
    out["confusion_matrix"] = cm.tolist()
    if len(classes) == 2:
        (tn_, fp_), (fn_, tp_) = cm
        with np.errstate(invalid="ignore", divide="ignore"):
            out |= {
                "sensitivity_pos": float(np.float64(tp_) / (tp_ + fn_)),
                "specificity_pos": float(np.float64(tn_) / (tn_ + fp_)),
                "ppv": float(np.float64(tp_) / (tp_ + fp_)),
                "npv": float(np.float64(tn_) / (tn_ + fn_)),
                "threshold": 0.5 if threshold is None else float(threshold),
            }
    return out
