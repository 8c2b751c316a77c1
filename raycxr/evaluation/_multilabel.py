"""Multi-label metrics and per-label thresholds, unknown (NaN) labels masked from every one.

Inputs are a label table ``labels`` of shape (N, L) (1 positive, 0 negative, NaN unknown;
:mod:`raycxr.multilabel`) and per-label sigmoid probabilities ``proba`` of shape (N, L), each in
[0, 1] (the rows do not sum to 1). A label is *predicted* when its probability reaches its
threshold (``proba >= threshold``, as a two-class :class:`~raycxr.evaluation.DecisionRule`).

Conventions (the multi-label counterpart of :mod:`raycxr.evaluation._metrics`):

* Every per-label metric is computed on that label's **known** entries only.
* **AUC** of a label is NaN when its known entries hold one class only; **AP** is NaN when they
  hold no positive; **F1** ``= 2·tp / (2·tp + fp + fn)`` is NaN when ``2·tp + fp + fn = 0`` (no
  positive and none predicted), the single-label rule of leaving such a class out.
* **Macro** averages are the means over the labels with a defined value (``auc_ovr_macro``,
  ``ap_macro``, ``f1_macro``, ``precision_macro``, ``recall_macro``: the single-label key names,
  so a search's ``val_f1_macro`` or ``val_auc_ovr_macro`` works for both tasks). **Micro**
  averages pool the known entries of every label (``f1_micro``, ``ap_micro``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from raycxr.evaluation._checks import check_multilabel_proba
from raycxr.multilabel import check_multilabel

if TYPE_CHECKING:
    from raycxr.evaluation._decision import DecisionRule

#: Scalars of :func:`multilabel_metrics` (beside them: ``auc/<label>``, ``ap/<label>``,
#: ``f1/<label>``, ``threshold/<label>``, ``support/<label>`` for every label).
MULTILABEL_METRICS = (
    "auc_ovr_macro",
    "ap_macro",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "f1_micro",
    "ap_micro",
)
#: The per-label metrics, as the prefixes of their keys (``auc/Edema``).
PER_LABEL_METRICS = ("auc", "ap", "f1", "precision", "recall", "threshold", "support")
#: A label's threshold when validation gives nothing to choose it by (no known positive).
DEFAULT_THRESHOLD = 0.5


def _checked(labels: object, proba: object, classes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    y = check_multilabel(labels, classes=classes)
    return y, check_multilabel_proba(proba, y.shape)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _mean_defined(values: Sequence[float]) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def _label_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of known entries ``y`` (0/1) with scores ``p``; NaN with one class only."""
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def _label_ap(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision of known entries; NaN without a positive."""
    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def _thresholds_of(
    thresholds: Sequence[float] | np.ndarray | DecisionRule | None, n_labels: int
) -> tuple[np.ndarray | None, DecisionRule | None]:
    if thresholds is None:
        return np.full(n_labels, DEFAULT_THRESHOLD), None
    if hasattr(thresholds, "predict"):
        rule = thresholds
        if rule.thresholds is None:
            raise ValueError(f"a multi-label task needs a rule 'thresholds', got rule {rule.rule!r}.")
        return np.asarray(rule.thresholds, dtype=float), rule
    t = np.asarray(thresholds, dtype=float)
    if t.shape != (n_labels,) or not np.all((t >= 0) & (t <= 1)):
        raise ValueError(f"thresholds must be {n_labels} numbers in [0, 1] (one per label), got {t.tolist()}.")
    return t, None


def multilabel_metrics(
    labels: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    thresholds: Sequence[float] | np.ndarray | DecisionRule | None = None,
) -> dict[str, Any]:
    """Every metric of one scored multi-label set, as a flat JSON-ready dict.

    Args:
        labels: ``(N, L)`` label table, NaN unknown.
        proba: ``(N, L)`` per-label probabilities (uncalibrated: the thresholds are on them).
        classes: The L label names.
        thresholds: The per-label thresholds, or the model's rule ``thresholds``
            (:class:`~raycxr.evaluation.DecisionRule`); 0.5 for every label when ``None``.

    Returns:
        The scalars of :data:`MULTILABEL_METRICS` and, for every label ``c``, ``auc/c``, ``ap/c``,
        ``f1/c``, ``precision/c``, ``recall/c``, ``threshold/c`` and ``support/c`` (its known
        positives); undefined values are NaN (see the module).

    Raises:
        ValueError: Bad labels, probabilities or thresholds, or a rule without per-label thresholds;
            or ``classes`` do not name the L labels.
    """
    y, p = _checked(labels, proba, classes)
    t, rule = _thresholds_of(thresholds, y.shape[1])
    pred = rule.predict(p) if rule is not None else (p >= t).astype(np.int64)
    known = ~np.isnan(y)
    out: dict[str, Any] = {}
    per: dict[str, list[float]] = {name: [] for name in PER_LABEL_METRICS}
    pooled = np.zeros(3)  # tp, fp, fn over every known entry
    for j, name in enumerate(classes):
        k = known[:, j]
        yj, pj, hat = y[k, j], p[k, j], pred[k, j]
        tp = float(np.sum((hat == 1) & (yj == 1)))
        fp = float(np.sum((hat == 1) & (yj == 0)))
        fn = float(np.sum((hat == 0) & (yj == 1)))
        pooled += (tp, fp, fn)
        values = {
            "auc": _label_auc(yj, pj),
            "ap": _label_ap(yj, pj),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "threshold": float(t[j]),
            "support": int(yj.sum()),
        }
        for metric, value in values.items():
            per[metric].append(value)
            out[f"{metric}/{name}"] = value
    f1 = per["f1"]
    # Precision and recall of a label are averaged over the labels whose F1 is defined (present in the
    # labels or the predictions), a 0/0 among them counting as 0, as the single-label macro averages do.
    present = [not np.isnan(v) for v in f1]
    out["auc_ovr_macro"] = _mean_defined(per["auc"])
    out["ap_macro"] = _mean_defined(per["ap"])
    out["f1_macro"] = _mean_defined(f1)
    for metric in ("precision", "recall"):
        kept = [0.0 if np.isnan(v) else v for v, keep in zip(per[metric], present) if keep]
        out[f"{metric}_macro"] = float(np.mean(kept)) if kept else float("nan")
    tp, fp, fn = pooled
    out["f1_micro"] = _ratio(2 * tp, 2 * tp + fp + fn)
    out["ap_micro"] = _label_ap(y[known], p[known])
    return out


def choose_thresholds(labels_val: np.ndarray, proba_val: np.ndarray, method: str = "f1") -> np.ndarray:
    """Per-label thresholds chosen on validation: each maximises its label's F1 on the known entries.

    The candidates are the label's known validation probabilities (predict positive when
    ``proba >= threshold``); among equal F1 the highest threshold is taken (the fewest positives).
    A label without a known positive keeps :data:`DEFAULT_THRESHOLD`.

    Args:
        labels_val: ``(N, L)`` validation label table, NaN unknown.
        proba_val: ``(N, L)`` validation probabilities.
        method: ``"f1"`` (the only one so far).

    Returns:
        ``(L,)`` float64 thresholds in [0, 1].

    Raises:
        ValueError: An unknown ``method``; bad labels or probabilities.
    """
    if method != "f1":
        raise ValueError(f"threshold method must be 'f1', got {method!r}.")
    y, p = _checked(labels_val, proba_val)
    thresholds = np.full(y.shape[1], DEFAULT_THRESHOLD)
    for j in range(y.shape[1]):
        k = ~np.isnan(y[:, j])
        yj, pj = y[k, j], p[k, j]
        if yj.sum() == 0:
            continue
        precision, recall, candidates = precision_recall_curve(yj, pj)
        precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
        denominator = precision + recall
        f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        best = np.flatnonzero(f1 == f1.max())[-1]  # thresholds increase: the last best is the highest
        thresholds[j] = float(min(max(candidates[best], 0.0), 1.0))
    return thresholds
