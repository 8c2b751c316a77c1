from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from raycxr.cv import corrected_resampled_ttest


def test_corrected_resampled_ttest_matches_a_hand_computation() -> None:
    a = np.array([0.80, 0.78, 0.83, 0.79, 0.81])
    b = np.array([0.76, 0.77, 0.78, 0.74, 0.79])
    # By hand: d = (0.04, 0.01, 0.05, 0.05, 0.02), mean 0.034, sample variance 0.00033,
    # corrected variance of the mean (1/5 + 100/400) * 0.00033 = 0.0001485.
    result = corrected_resampled_ttest(a, b, n_train=400, n_test=100)
    se = math.sqrt(0.45 * 0.00033)
    assert result.mean == pytest.approx(0.034)
    assert result.t == pytest.approx(0.034 / se)
    assert result.p == pytest.approx(2 * (1 - stats.t.cdf(0.034 / se, df=4)))
    half = stats.t.ppf(0.975, df=4) * se
    assert (result.ci_low, result.ci_high) == pytest.approx((0.034 - half, 0.034 + half))
    naive = stats.ttest_rel(a, b)  # the uncorrected test is more confident
    assert naive.pvalue < result.p


def test_identical_scores_and_bad_input() -> None:
    same = corrected_resampled_ttest(np.ones(3), np.ones(3), 10, 2)
    assert same.mean == 0 and same.p == 1
    with pytest.raises(ValueError, match="at least 2 folds"):
        corrected_resampled_ttest(np.ones(1), np.ones(1), 10, 2)
    with pytest.raises(ValueError, match="same length"):
        corrected_resampled_ttest(np.ones(3), np.ones(2), 10, 2)
