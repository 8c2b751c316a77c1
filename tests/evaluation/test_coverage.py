"""Coverage of the bootstrap intervals by simulation: test sets drawn from a population of known truth.

200 test sets per design; a 95 % interval should contain the truth in 90–98 % of them (the
binomial spread of 200 repetitions around 95 % is ± 3 points). The percentile bootstrap of 30
groups runs a little below nominal (~93 %: it ignores the t-correction and the (G−1)/G
variance factor), which the band allows.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import roc_auc_score

from raycxr.evaluation import (
    accuracy,
    bootstrap_ci,
    bootstrap_coverage,
    macro_auc,
    macro_f1,
    resampling_design,
    simulate_population,
)
from raycxr.evaluation._coverage import draw_test_set

POPULATION = simulate_population()
SIZES = {"images": 300, "groups": 30}  # 300 images, or 30 groups of 10 images


def test_the_population_has_the_intended_shape() -> None:
    assert len(POPULATION.y) == 10_000
    assert np.bincount(POPULATION.y).tolist() == pytest.approx([4000, 3000, 2000, 1000], rel=0.1)
    assert 0.8 < accuracy(POPULATION.y, POPULATION.proba) < 0.9
    assert len(np.unique(POPULATION.groups)) == 1000


@pytest.mark.parametrize("k", [2, 4])
def test_rank_macro_auc_equals_sklearn(k: int) -> None:
    def sklearn_auc(y: np.ndarray, p: np.ndarray) -> float:
        return roc_auc_score(y, p[:, 1]) if k == 2 else roc_auc_score(y, p, multi_class="ovr", average="macro")

    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 500)
    proba = softmax(rng.normal(size=(500, k)) + 2 * np.eye(k)[y], axis=1)
    assert macro_auc(y, proba) == pytest.approx(sklearn_auc(y, proba), abs=1e-12)
    tied = np.round(proba, 1)  # ties: midranks, as sklearn
    tied /= tied.sum(axis=1, keepdims=True)
    assert macro_auc(y, tied) == pytest.approx(sklearn_auc(y, tied), abs=1e-12)
    with pytest.raises(ValueError, match="class 1 is absent"):
        macro_auc(np.where(y == 1, 0, y), proba)


@pytest.mark.parametrize("drawn_by", ["images", "groups"])
def test_95_percent_intervals_of_accuracy_and_macro_f1_cover_the_truth(drawn_by: str) -> None:
    metrics = {"accuracy": accuracy, "macro_f1": macro_f1}
    rows = bootstrap_coverage(POPULATION, drawn_by, SIZES[drawn_by], metrics, n_reps=200, n_boot=200)
    for row in rows:
        assert 0.90 <= row.coverage <= 0.98, row
        assert row.estimate_inside == 1.0, row
        assert row.skipped == 0, row
    assert rows[0].design == ("image (stratified by class)" if drawn_by == "images" else "group (30 groups)")


def test_the_image_design_is_too_narrow_for_a_test_set_drawn_by_groups() -> None:
    # Why the unit matters: rows of a group are correlated, so resampling images of a
    # group-drawn test set understates the spread.
    rng = np.random.default_rng(0)
    ratios = []
    for rep in range(20):
        rows = draw_test_set(POPULATION, "groups", 30, rng)
        y, proba = POPULATION.y[rows], POPULATION.proba[rows]
        by_group = bootstrap_ci(accuracy, y, proba, design=resampling_design("groups", POPULATION.groups[rows]),
                                n_boot=200, seed=rep)  # fmt: skip
        by_image = bootstrap_ci(accuracy, y, proba, n_boot=200, seed=rep)
        ratios.append((by_image.high - by_image.low) / (by_group.high - by_group.low))
    assert np.mean(ratios) < 0.85


@pytest.mark.slow
@pytest.mark.parametrize("drawn_by", ["images", "groups"])
def test_95_percent_intervals_of_macro_auc_cover_the_truth(drawn_by: str) -> None:
    rows = bootstrap_coverage(POPULATION, drawn_by, SIZES[drawn_by], {"macro_auc": macro_auc}, n_reps=200, n_boot=200)
    assert 0.90 <= rows[0].coverage <= 0.98, rows[0]
    assert rows[0].estimate_inside == 1.0 and rows[0].skipped == 0, rows[0]
