from __future__ import annotations

import math

import numpy as np
import pytest

from raycxr.evaluation import operating_point, threshold_at_sensitivity, threshold_at_specificity

# Validation table: 10 negatives and 6 positives (scores interleave between 0.4 and 0.9).
NEG = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
POS = [0.45, 0.55, 0.65, 0.75, 0.85, 0.95]
Y = np.array([0] * 10 + [1] * 6)
S = np.array(NEG + POS)


@pytest.mark.parametrize(
    ("target", "threshold"),
    [
        # 8 negatives must fall below the threshold: above the 8th lowest negative 0.7 the next score is 0.75
        (0.8, 0.75),
        (0.75, 0.75),  # ⌈7.5⌉ = 8 negatives, as for 0.8
        (0.7, 0.65),  # 7 negatives: above 0.6
        (1.0, 0.95),  # all 10: above 0.9
        (0.05, 0.2),  # 1 negative: above 0.1
    ],
)
def test_threshold_at_specificity_by_hand(target: float, threshold: float) -> None:
    assert threshold_at_specificity(Y, S, target) == threshold
    # it reaches the target, and no lower score does
    assert operating_point(Y, S, threshold).specificity >= target
    lower = S[np.less(S, threshold)]
    if lower.size:
        assert operating_point(Y, S, lower.max()).specificity < target


def test_a_target_reached_exactly_is_not_lost_to_float_rounding() -> None:
    # 0.28 · 25 is 7.000000000000001 in floats; 7 of 25 negatives below the threshold is 0.28 exactly.
    y = np.array([0] * 25 + [1])
    s = np.arange(26) / 100  # negatives 0.00 … 0.24, the positive 0.25
    assert threshold_at_specificity(y, s, 0.28) == 0.07
    assert operating_point(y, s, 0.07).specificity == 7 / 25
    # likewise for sensitivity: 0.28 · 25 positives -> the 7th highest positive
    assert threshold_at_sensitivity(1 - y, 1 - s, 0.28) == pytest.approx(1 - 0.06)


def test_threshold_at_specificity_one_is_infinite_when_a_negative_scores_highest() -> None:
    y = np.array([0, 1, 1, 0])
    s = np.array([0.2, 0.6, 0.7, 0.9])
    assert threshold_at_specificity(y, s, 1.0) == math.inf
    assert threshold_at_specificity(y, s, 0.5) == 0.6


@pytest.mark.parametrize(
    ("target", "threshold"),
    [(0.5, 0.75), (0.6, 0.65), (1.0, 0.45), (0.1, 0.95)],  # the ⌈target · 6⌉-th highest positive
)
def test_threshold_at_sensitivity_by_hand(target: float, threshold: float) -> None:
    assert threshold_at_sensitivity(Y, S, target) == threshold
    assert operating_point(Y, S, threshold).sensitivity >= target
    higher = S[np.greater(S, threshold)]
    if higher.size:
        assert operating_point(Y, S, higher.min()).sensitivity < target


def test_operating_point_counts_and_rates() -> None:
    point = operating_point(Y, S, 0.5)
    # called positive (score ≥ 0.5): negatives 0.5 0.6 0.7 0.8 0.9, positives all but 0.45
    assert (point.tp, point.fp, point.tn, point.fn) == (5, 5, 5, 1)
    assert point.sensitivity == pytest.approx(5 / 6)
    assert point.specificity == pytest.approx(0.5)
    assert point.ppv == pytest.approx(0.5)
    assert point.npv == pytest.approx(5 / 6)
    assert point.threshold == 0.5


def test_undefined_rates_are_nan() -> None:
    nothing_called = operating_point(Y, S, math.inf)
    assert (nothing_called.tp, nothing_called.fp, nothing_called.tn, nothing_called.fn) == (0, 0, 10, 6)
    assert math.isnan(nothing_called.ppv)
    assert (nothing_called.sensitivity, nothing_called.specificity) == (0.0, 1.0)
    assert nothing_called.npv == pytest.approx(10 / 16)
    no_positives = operating_point([0, 0, 0], [0.2, 0.6, 0.9], 0.5)
    assert math.isnan(no_positives.sensitivity)
    assert no_positives.specificity == pytest.approx(1 / 3)


def test_bad_input() -> None:
    for target in (0.0, 1.01, -0.2):
        with pytest.raises(ValueError, match=rf"specificity must lie in \(0, 1\], got {target}"):
            threshold_at_specificity(Y, S, target)
    with pytest.raises(ValueError, match=r"sensitivity must lie in \(0, 1\], got 0"):
        threshold_at_sensitivity(Y, S, 0)
    with pytest.raises(ValueError, match="at least 1 positive"):
        threshold_at_specificity(np.zeros(16, dtype=int), S, 0.9)
    with pytest.raises(ValueError, match=r"score must have shape \(16,\)"):
        operating_point(Y, S[:-1], 0.5)
    with pytest.raises(ValueError, match="score contains NaN"):
        operating_point(Y, np.where(S > 0.8, np.nan, S), 0.5)
    with pytest.raises(ValueError, match="threshold must be a number, got nan"):
        operating_point(Y, S, math.nan)
