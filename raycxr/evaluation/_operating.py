"""Operating points of one class versus the rest: thresholds chosen on validation, evaluated on test.

A row is called positive when its score is at least the threshold (``score >= threshold``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from raycxr.evaluation._checks import check_binary, check_both_classes, check_fraction, check_scores

# k/N ≥ target is decided on counts; this absorbs float noise such as 0.28 * 25 = 7.000000000000001.
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """Confusion counts and rates at one threshold; a ratio with a zero denominator is NaN.

    Attributes:
        threshold: Rows with ``score >= threshold`` are called positive.
        sensitivity: ``tp / (tp + fn)``.
        specificity: ``tn / (tn + fp)``.
        ppv: Positive predictive value ``tp / (tp + fp)``.
        npv: Negative predictive value ``tn / (tn + fn)``.
        tp, fp, tn, fn: Confusion counts.
    """

    threshold: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    tp: int
    fp: int
    tn: int
    fn: int


def _validate(y_binary: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary(y_binary)
    return y, check_scores(score, len(y))


def _needed(target: float, total: int) -> int:
    return math.ceil(target * total - _EPS)


def threshold_at_specificity(y_binary: np.ndarray, score: np.ndarray, specificity: float) -> float:
    """Lowest threshold whose specificity on these (validation) rows is at least ``specificity``.

    The lowest such threshold keeps the most sensitivity. Candidates are the distinct scores
    (as in ``sklearn.metrics.roc_curve``) and ``+inf``: with k = ⌈specificity · N⌉ negatives to
    call negative, the threshold is the smallest score above the k-th lowest negative score, or
    ``+inf`` (nothing called positive) when no score is above it.

    Raises:
        ValueError: Bad shapes, no positive or no negative row, or ``specificity`` outside (0, 1].
    """
    y, s = _validate(y_binary, score)
    specificity = check_fraction(specificity, "specificity")
    check_both_classes(y)
    negatives = np.sort(s[~y])
    kth_lowest = negatives[_needed(specificity, len(negatives)) - 1]
    above = s[s > kth_lowest]
    return float(above.min()) if above.size else math.inf


def threshold_at_sensitivity(y_binary: np.ndarray, score: np.ndarray, sensitivity: float) -> float:
    """Highest threshold whose sensitivity on these (validation) rows is at least ``sensitivity``.

    The highest such threshold keeps the most specificity (the lowest would be the smallest
    score, sensitivity 1 whatever the target). With k = ⌈sensitivity · P⌉ positives to catch it
    is the k-th highest positive score.

    Raises:
        ValueError: Bad shapes, no positive or no negative row, or ``sensitivity`` outside (0, 1].
    """
    y, s = _validate(y_binary, score)
    sensitivity = check_fraction(sensitivity, "sensitivity")
    check_both_classes(y)
    positives = np.sort(s[y])[::-1]
    return float(positives[_needed(sensitivity, len(positives)) - 1])


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def operating_point(y_binary: np.ndarray, score: np.ndarray, threshold: float) -> OperatingPoint:
    """Sensitivity, specificity, PPV, NPV and counts at ``threshold`` (use it on test rows).

    Raises:
        ValueError: Bad shapes or a NaN threshold.
    """
    y, s = _validate(y_binary, score)
    if math.isnan(threshold):
        raise ValueError("threshold must be a number, got nan")
    called = s >= threshold
    tp = int(np.sum(called & y))
    fp = int(np.sum(called & ~y))
    tn = int(np.sum(~called & ~y))
    fn = int(np.sum(~called & y))
    return OperatingPoint(
        float(threshold),
        _ratio(tp, tp + fn),
        _ratio(tn, tn + fp),
        _ratio(tp, tp + fp),
        _ratio(tn, tn + fn),
        tp,
        fp,
        tn,
        fn,
    )
