"""Significance tests comparing two models on the same test rows: McNemar (accuracy) and DeLong (ROC AUC)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

from raycxr.evaluation._checks import check_binary, check_both_classes, check_labels, check_scores

# Below this many discordant pairs the chi-square approximation is poor; use the exact binomial test.
EXACT_BELOW = 25


@dataclasses.dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of equal accuracy of two models on the same rows.

    Attributes:
        b: Rows model A gets right and model B wrong.
        c: Rows model A gets wrong and model B right.
        statistic: ``min(b, c)`` for the exact test; the continuity-corrected chi-square otherwise.
        p_value: Two-sided p-value.
        exact: Whether the exact binomial test was used.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


@dataclasses.dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated ROC AUCs (the same rows scored by two models).

    Attributes:
        auc_a, auc_b: The two AUCs.
        diff: ``auc_a − auc_b``.
        z: ``diff`` over its DeLong standard error.
        p_value: Two-sided normal p-value.
    """

    auc_a: float
    auc_b: float
    diff: float
    z: float
    p_value: float


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> McNemarResult:
    """McNemar's test on the discordant pairs of two models' predicted labels.

    Only rows where exactly one model is right count: ``b`` (A right, B wrong) and ``c``
    (A wrong, B right). Under equal accuracy ``b ~ Binomial(b + c, 1/2)``. With ``b + c < 25`` the
    exact two-sided binomial test is used (``scipy.stats.binomtest``); otherwise the chi-square
    statistic with continuity correction ``max(|b − c| − 1, 0)² / (b + c)`` on 1 degree of freedom.
    With no discordant pair there is no evidence of a difference: ``p = 1``.

    Raises:
        ValueError: Arrays not 1-D integer labels of the same length.
    """
    y = check_labels(y_true)
    a = check_labels(pred_a, "pred_a")
    b_pred = check_labels(pred_b, "pred_b")
    if not (len(a) == len(b_pred) == len(y)):
        raise ValueError(
            f"y_true, pred_a and pred_b must have the same length, got {len(y)}, {len(a)} and {len(b_pred)}"
        )
    right_a, right_b = a == y, b_pred == y
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    if b + c == 0:
        return McNemarResult(b, c, 0.0, 1.0, exact=True)
    if b + c < EXACT_BELOW:
        p = stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
        return McNemarResult(b, c, float(min(b, c)), float(min(p, 1.0)), exact=True)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    return McNemarResult(b, c, float(statistic), float(stats.chi2.sf(statistic, df=1)), exact=False)


def _structural_components(positive: np.ndarray, negative: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's placement values via midranks (Sun & Xu 2014), O(n log n).

    ``v10[i]`` is the fraction of negatives a positive ``i`` outscores (ties count 1/2), ``v01[j]``
    the fraction of positives that outscore negative ``j``; the AUC is the mean of either.
    """
    m, n = len(positive), len(negative)
    ranks_all = stats.rankdata(np.concatenate([positive, negative]))
    ranks_pos = stats.rankdata(positive)
    ranks_neg = stats.rankdata(negative)
    v10 = (ranks_all[:m] - ranks_pos) / n
    v01 = 1 - (ranks_all[m:] - ranks_neg) / m
    return float(v10.mean()), v10, v01


def delong_test(y_binary: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> DeLongResult:
    """DeLong, DeLong & Clarke-Pearson (1988) test of ``AUC(a) = AUC(b)`` for scores of the same rows.

    The covariance of the two AUCs is ``S10/m + S01/n``, from the sample covariances of the
    placement values of the m positives and n negatives (computed with the fast midrank
    algorithm of Sun & Xu 2014). ``z = (auc_a − auc_b) / se``; when ``se = 0`` (e.g. identical
    scores) ``z = 0, p = 1`` if the AUCs are equal, else ``z = ±inf, p = 0``.

    Args:
        y_binary: 0/1 labels (1 = positive), shape (n,).
        score_a, score_b: Scores of the two models, higher = more positive, shape (n,).

    Raises:
        ValueError: Bad shapes, non-finite scores, or fewer than 2 positives or 2 negatives.
    """
    y = check_binary(y_binary)
    check_both_classes(y, at_least=2)
    a = check_scores(score_a, len(y), "score_a")
    b = check_scores(score_b, len(y), "score_b")
    auc_a, v10_a, v01_a = _structural_components(a[y], a[~y])
    auc_b, v10_b, v01_b = _structural_components(b[y], b[~y])
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / len(v10_a) + s01 / len(v01_a)
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = auc_a - auc_b
    if variance <= 1e-15:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
    else:
        z = diff / math.sqrt(variance)
        p = float(2 * stats.norm.sf(abs(z)))
    return DeLongResult(auc_a, auc_b, diff, z, p)
