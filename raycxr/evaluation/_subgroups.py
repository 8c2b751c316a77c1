"""Per-subgroup sensitivity, specificity and accuracy with Wilson intervals (e.g. by sex, site, age band)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from raycxr.evaluation._checks import check_class_index, check_groups, check_labels_proba, check_level


def _wilson(successes: int, trials: int, level: float) -> tuple[float, float, float]:
    """Proportion and its Wilson score interval; NaNs when there are no trials."""
    if trials == 0:
        return math.nan, math.nan, math.nan
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=level, method="wilson")
    return successes / trials, float(ci.low), float(ci.high)


def subgroup_table(
    y_true: np.ndarray,
    proba: np.ndarray,
    subgroups: np.ndarray,
    positive: int,
    threshold: float,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per subgroup (sorted by name): how class ``positive`` versus the rest fares at ``threshold``.

    A row is called positive when ``proba[:, positive] >= threshold``. Columns: ``subgroup``,
    ``n``, ``positives``, ``negatives``, ``sensitivity``, ``specificity`` and ``accuracy`` (top-1,
    over all K classes), each rate with ``_low``/``_high`` Wilson bounds at ``level``
    (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``). A subgroup without positives
    (negatives) has NaN sensitivity (specificity) and bounds.

    Args:
        y_true: Integer labels, shape (n,).
        proba: Class probabilities, shape (n, K), rows summing to 1.
        subgroups: Subgroup of each row, shape (n,); values are compared as strings.
        positive: Column index of the positive class (e.g. COVID).
        threshold: Decision threshold on ``proba[:, positive]`` (chosen on validation data).
        level: Coverage of the intervals, in (0, 1).

    Raises:
        ValueError: Bad shapes or probabilities, ``positive`` out of range, a NaN threshold, or
            ``level`` outside (0, 1).
    """
    y, p = check_labels_proba(y_true, proba)
    groups = check_groups(subgroups, len(y), "subgroups")
    positive = check_class_index(positive, p.shape[1], "positive")
    level = check_level(level)
    if math.isnan(threshold):
        raise ValueError("threshold must be a number, got nan")
    is_positive = y == positive
    called = p[:, positive] >= threshold
    correct = p.argmax(axis=1) == y
    rows = []
    for name in np.unique(groups):
        member = groups == name
        pos, neg = member & is_positive, member & ~is_positive
        sens = _wilson(int(np.sum(called[pos])), int(pos.sum()), level)
        spec = _wilson(int(np.sum(~called[neg])), int(neg.sum()), level)
        acc = _wilson(int(np.sum(correct[member])), int(member.sum()), level)
        rows.append(
            {
                "subgroup": str(name),
                "n": int(member.sum()),
                "positives": int(pos.sum()),
                "negatives": int(neg.sum()),
                "sensitivity": sens[0],
                "sensitivity_low": sens[1],
                "sensitivity_high": sens[2],
                "specificity": spec[0],
                "specificity_low": spec[1],
                "specificity_high": spec[2],
                "accuracy": acc[0],
                "accuracy_low": acc[1],
                "accuracy_high": acc[2],
            }
        )
    return pd.DataFrame(rows)
