"""Statistics over folds: mean ± std, and the corrected resampled t-test of Nadeau & Bengio."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two configurations over the same folds (``a − b``).

    Attributes:
        mean: Mean difference over folds.
        ci_low, ci_high: 95 % confidence interval of the difference (corrected variance).
        t: The corrected t statistic.
        p: Two-sided p-value (Student t with k − 1 degrees of freedom).
        folds: Number of folds k.
    """

    mean: float
    ci_low: float
    ci_high: float
    t: float
    p: float
    folds: int


def corrected_resampled_ttest(
    a: np.ndarray, b: np.ndarray, n_train: float, n_test: float, confidence: float = 0.95
) -> PairedTest:
    """Nadeau & Bengio (2003): a t-test of ``a − b`` over k resamples whose training sets overlap.

    The variance of the mean difference is ``(1/k + n_test/n_train) · s²`` instead of the
    naive ``s²/k``: the folds share training data, so their scores are correlated and the
    naive test is far too confident.

    Args:
        a, b: Per-fold scores of two configurations on the same folds.
        n_train: Training-set size of a fold (the mean over folds).
        n_test: Test-set size of a fold (the mean over folds).
        confidence: Level of the interval.

    Raises:
        ValueError: Different lengths, fewer than 2 folds or non-positive sizes.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D and of the same length, got {a.shape} and {b.shape}")
    k = len(a)
    if k < 2:
        raise ValueError(f"the t-test needs at least 2 folds, got {k}")
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    d = a - b
    mean = float(d.mean())
    variance = float(d.var(ddof=1))
    se = math.sqrt((1.0 / k + n_test / n_train) * variance)
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df=k - 1))
    if se == 0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), df=k - 1))
    return PairedTest(mean, mean - quantile * se, mean + quantile * se, t, p, k)
