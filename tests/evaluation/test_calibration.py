from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.calibration import calibration_curve

from raycxr.evaluation import (
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
from tests.evaluation.tables import PROBA, Y, onehot


def test_ece_by_hand() -> None:
    # 5 bins (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1] of the top confidence:
    #   (.4, .6]: rows 2 ✗ .45, 5 ✗ .55, 7 ✓ .50, 9 ✓ .42 -> acc 2/4, conf 1.92/4 = .48, gap .02
    #   (.6, .8]: rows 1 ✓ .70, 4 ✓ .65, 6 ✓ .75         -> acc 1,   conf 2.10/3 = .70, gap .30
    #   (.8, 1]:  rows 0 ✓ .90, 3 ✓ .85, 8 ✗ .95         -> acc 2/3, conf 2.70/3 = .90, gap .2333
    # ECE = .4 · .02 + .3 · .30 + .3 · .2333 = .008 + .09 + .07
    assert expected_calibration_error(Y, PROBA, n_bins=5) == pytest.approx(0.168)
    # one bin: |accuracy − mean confidence| = |.7 − .672|
    assert expected_calibration_error(Y, PROBA, n_bins=1) == pytest.approx(0.028)


def test_ece_of_a_confident_perfect_model_is_zero_and_of_a_confident_wrong_one_is_one() -> None:
    assert expected_calibration_error(Y, onehot(Y)) == 0.0
    assert expected_calibration_error(Y, onehot((Y + 1) % 3)) == 1.0


def test_brier_by_hand() -> None:
    per_row = [0.015, 0.14, 0.665, 0.035, 0.195, 0.815, 0.095, 0.38, 1.8638, 0.5078]
    # e.g. row 8: (0.03 − 0)² + (0.95 − 0)² + (0.02 − 1)² = 0.0009 + 0.9025 + 0.9604
    assert brier_score(Y, PROBA) == pytest.approx(sum(per_row) / 10)
    assert brier_score(Y, onehot(Y)) == 0.0
    assert brier_score(Y, onehot((Y + 1) % 3)) == 2.0


def test_reliability_curve_by_hand_and_like_sklearn() -> None:
    curve = reliability_curve(Y, PROBA, class_index=2, n_bins=5)
    # proba[:, 2] = .05 .10 .20 .05 .10 .15 .75 .50 .02 .25; class 2 are rows 6, 7, 8.
    # [0, .2] holds rows 0-5 and 8 (.20 falls in the first bin, bins are closed on the right)
    assert curve.count.tolist() == [7, 1, 1, 1]
    assert curve.bin_low.tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert curve.bin_high.tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert curve.mean_predicted.tolist() == pytest.approx([0.67 / 7, 0.25, 0.50, 0.75])
    assert curve.observed.tolist() == pytest.approx([1 / 7, 0.0, 1.0, 1.0])
    observed, predicted = calibration_curve(Y == 2, PROBA[:, 2], n_bins=5, strategy="uniform")
    assert curve.observed == pytest.approx(observed)
    assert curve.mean_predicted == pytest.approx(predicted)


def _softened_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits z and labels drawn from softmax(z): a model calibrated at T = 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, 3))
    cumulative = softmax(logits, axis=1).cumsum(axis=1)
    labels = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    return logits, labels


def _nll(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(proba[np.arange(len(y)), y])))


@pytest.mark.parametrize("true_t", [2.5, 0.5])
def test_temperature_scaling_recovers_a_known_temperature(true_t: float) -> None:
    # The model outputs logits z · T (over-confident for T > 1, under-confident for T < 1);
    # dividing them by T gives back the calibrated z.
    logits, y = _softened_data(6000, seed=0)
    distorted = softmax(logits * true_t, axis=1)
    fitted = fit_temperature(distorted, y)
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert fit_temperature(logits * true_t, y, from_proba=False) == pytest.approx(fitted, rel=1e-4)
    calibrated = apply_temperature(distorted, fitted)
    assert _nll(calibrated, y) < _nll(distorted, y)
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert np.array_equal(calibrated.argmax(axis=1), distorted.argmax(axis=1))  # T never changes the ranking


def test_apply_temperature_is_softmax_of_scaled_log_probabilities() -> None:
    expected = softmax(np.log(PROBA) / 2.0, axis=1)
    assert apply_temperature(PROBA, 2.0) == pytest.approx(expected)
    assert apply_temperature(PROBA, 1.0) == pytest.approx(PROBA)
    logits = np.log(PROBA) + 3.0
    assert apply_temperature(logits, 2.0, from_proba=False) == pytest.approx(expected)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1, got 0"):
        expected_calibration_error(Y, PROBA, n_bins=0)
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        reliability_curve(Y, PROBA, 0, n_bins=2.5)
    with pytest.raises(ValueError, match=r"class_index must be in 0\.\.2, got 3"):
        reliability_curve(Y, PROBA, 3)
    with pytest.raises(ValueError, match=r"proba must have shape \(n, K\) with n = 10 rows"):
        brier_score(Y, PROBA[:, :2].T)
    with pytest.raises(ValueError, match="rows of proba must sum to 1"):
        brier_score(Y, PROBA * 0.9)
    with pytest.raises(ValueError, match=r"proba_or_logits must lie in \[0, 1\].*pass from_proba=False"):
        fit_temperature(np.log(PROBA), Y)
    with pytest.raises(ValueError, match="temperature must be a positive finite number, got 0"):
        apply_temperature(PROBA, 0)
    with pytest.raises(ValueError, match=r"y_true contains label 3"):
        fit_temperature(PROBA, np.where(Y == 2, 3, Y))
