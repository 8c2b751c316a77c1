from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from raycxr.evaluation import delong_test, mcnemar


def _discordant(b: int, c: int, both_right: int = 5, both_wrong: int = 3) -> tuple[np.ndarray, ...]:
    """Labels and two prediction vectors with b rows only A gets right and c rows only B gets right."""
    n = b + c + both_right + both_wrong
    y = np.zeros(n, dtype=int)
    a = np.zeros(n, dtype=int)
    bb = np.zeros(n, dtype=int)
    a[b : b + c] = 1  # A wrong on the c rows
    bb[:b] = 1  # B wrong on the b rows
    a[b + c + both_right :] = 1  # both wrong on the last rows
    bb[b + c + both_right :] = 2
    return y, a, bb


def test_mcnemar_exact_branch_by_hand() -> None:
    result = mcnemar(*_discordant(3, 7))
    # b + c = 10 < 25: p = 2 · P(X ≤ 3), X ~ Bin(10, 1/2) = 2 · (1 + 10 + 45 + 120) / 1024
    assert (result.b, result.c, result.exact) == (3, 7, True)
    assert result.statistic == 3
    assert result.p_value == pytest.approx(2 * 176 / 1024)


def test_mcnemar_chi_square_branch_by_hand() -> None:
    result = mcnemar(*_discordant(20, 10))
    # (|20 − 10| − 1)² / 30 = 2.7; the chi-square(1) tail is erfc(sqrt(x / 2))
    assert (result.b, result.c, result.exact) == (20, 10, False)
    assert result.statistic == pytest.approx(2.7)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(2.7 / 2)))


def test_mcnemar_branch_switches_at_25_discordant_pairs() -> None:
    assert mcnemar(*_discordant(16, 8)).exact
    assert not mcnemar(*_discordant(16, 9)).exact


def test_mcnemar_without_discordant_pairs_or_with_balanced_ones_gives_p_one() -> None:
    y, a, _ = _discordant(4, 0)
    result = mcnemar(y, a, a)
    assert (result.b, result.c, result.statistic, result.p_value) == (0, 0, 0.0, 1.0)
    balanced = mcnemar(*_discordant(15, 15))
    assert (balanced.statistic, balanced.p_value) == (0.0, 1.0)


def test_mcnemar_is_symmetric_in_the_models() -> None:
    y, a, b = _discordant(3, 9)
    ab, ba = mcnemar(y, a, b), mcnemar(y, b, a)
    assert (ab.b, ab.c) == (ba.c, ba.b)
    assert ab.p_value == pytest.approx(ba.p_value)


def test_mcnemar_bad_input() -> None:
    with pytest.raises(ValueError, match="same length, got 10, 9 and 10"):
        mcnemar(np.zeros(10, dtype=int), np.zeros(9, dtype=int), np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="pred_b must hold integer class labels"):
        mcnemar([0, 1], [0, 1], ["a", "b"])


def _delong_by_definition(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) written out with the pairwise kernel, O(m·n): returns (diff, variance)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = len(pos), len(neg)

    def psi(x: float, z: float) -> float:
        return 1.0 if x > z else 0.5 if x == z else 0.0

    v10, v01 = np.zeros((2, m)), np.zeros((2, n))
    for r, s in enumerate((a, b)):
        for i, p in enumerate(pos):
            v10[r, i] = sum(psi(s[p], s[q]) for q in neg) / n
        for j, q in enumerate(neg):
            v01[r, j] = sum(psi(s[p], s[q]) for p in pos) / m
    s10 = np.cov(v10)
    s01 = np.cov(v01)
    contrast = np.array([1.0, -1.0])
    variance = contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n
    return float(v10[0].mean() - v10[1].mean()), float(variance)


Y_BIN = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
SCORE_A = np.array([0.9, 0.8, 0.8, 0.6, 0.55, 0.3, 0.7, 0.5, 0.4, 0.3, 0.2, 0.2, 0.1, 0.05])  # with ties
SCORE_B = np.array([0.6, 0.7, 0.4, 0.5, 0.2, 0.9, 0.8, 0.5, 0.3, 0.6, 0.1, 0.4, 0.2, 0.3])


def test_delong_aucs_match_sklearn_and_the_variance_its_definition() -> None:
    result = delong_test(Y_BIN, SCORE_A, SCORE_B)
    assert result.auc_a == pytest.approx(roc_auc_score(Y_BIN, SCORE_A))
    assert result.auc_b == pytest.approx(roc_auc_score(Y_BIN, SCORE_B))
    diff, variance = _delong_by_definition(Y_BIN, SCORE_A, SCORE_B)
    assert result.diff == pytest.approx(diff)
    assert result.z == pytest.approx(diff / math.sqrt(variance))
    assert result.p_value == pytest.approx(math.erfc(abs(result.z) / math.sqrt(2)))


def test_delong_is_symmetric_and_gives_p_one_for_identical_scores() -> None:
    ab, ba = delong_test(Y_BIN, SCORE_A, SCORE_B), delong_test(Y_BIN, SCORE_B, SCORE_A)
    assert ba.z == pytest.approx(-ab.z)
    assert ba.p_value == pytest.approx(ab.p_value)
    same = delong_test(Y_BIN, SCORE_A, SCORE_A.copy())
    assert (same.diff, same.z, same.p_value) == (0.0, 0.0, 1.0)


def test_delong_finds_a_clearly_better_model() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    good = y + rng.normal(scale=0.7, size=300)  # AUC ≈ 0.85
    poor = rng.normal(size=300)  # AUC ≈ 0.5
    result = delong_test(y, good, poor)
    assert result.auc_a > 0.8
    assert abs(result.auc_b - 0.5) < 0.1
    assert result.p_value < 1e-6


def test_delong_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 positive"):
        delong_test([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [0.8, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"y_binary must hold 0 .* and 1 .* only, got 2"):
        delong_test([1, 2, 0, 0], [0.9, 0.1, 0.2, 0.3], [0.8, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"score_b must have shape \(14,\)"):
        delong_test(Y_BIN, SCORE_A, SCORE_B[:-1])
