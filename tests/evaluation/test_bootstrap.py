from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.special import softmax

from raycxr.evaluation import accuracy, bootstrap_ci, macro_auc, macro_f1, paired_bootstrap, resampling_design
from raycxr.evaluation._design import IMAGES, resample_indices
from tests.evaluation.tables import PROBA, Y, onehot


def test_a_constant_metric_has_a_zero_width_interval() -> None:
    result = bootstrap_ci(lambda y, p: 0.5, Y, PROBA, n_boot=200)
    assert (result.estimate, result.low, result.high) == (0.5, 0.5, 0.5)
    assert (result.n_used, result.n_skipped, result.level) == (200, 0, 0.95)
    assert (result.unit, result.n_redrawn, result.note) == ("image (stratified by class)", 0, "")


def test_a_perfect_model_has_the_interval_one_to_one() -> None:
    result = bootstrap_ci(accuracy, Y, onehot(Y), n_boot=300)
    assert (result.estimate, result.low, result.high) == (1.0, 1.0, 1.0)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    def mean_confidence(y: np.ndarray, p: np.ndarray) -> float:  # continuous, so seeds show in the bounds
        return float(p.max(axis=1).mean())

    first = bootstrap_ci(mean_confidence, Y, PROBA, n_boot=500, seed=7)
    assert bootstrap_ci(mean_confidence, Y, PROBA, n_boot=500, seed=7) == first
    other = bootstrap_ci(mean_confidence, Y, PROBA, n_boot=500, seed=8)
    assert first.estimate == other.estimate == pytest.approx(0.672)  # (0.90 + 0.70 + ... + 0.42) / 10
    assert first.low != other.low
    assert first.high != other.high
    assert first.low < 0.672 < first.high


def test_the_interval_is_the_percentiles_of_the_resampled_metric() -> None:
    # Reproduce the stratified resamples: seed -> default_rng -> one uniform per row; the rows of
    # class c (in table order) are drawn as rows_c[floor(u · n_c)], so every class keeps its count.
    rng = np.random.default_rng(3)
    by_class = [np.flatnonzero(c == Y) for c in range(3)]
    values = []
    for _ in range(400):
        u = rng.random(10)
        idx = np.concatenate([rows[(u[o : o + len(rows)] * len(rows)).astype(int)]
                              for rows, o in zip(by_class, np.cumsum([0, 4, 3]))])  # fmt: skip
        values.append(accuracy(Y[idx], PROBA[idx]))
    result = bootstrap_ci(accuracy, Y, PROBA, n_boot=400, level=0.9, seed=3)
    assert (result.low, result.high) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])))


def test_group_bootstrap_of_identical_rows_equals_group_bootstrap_of_one_row_per_group() -> None:
    # Every group holds three copies of one row of the table: the same seed draws the same
    # groups, so the interval is that of one row per group.
    y3, p3 = np.repeat(Y, 3), np.repeat(PROBA, 3, axis=0)
    names = [f"g{i}" for i in range(10)]
    clustered = bootstrap_ci(
        accuracy, y3, p3, design=resampling_design("groups", np.repeat(names, 3), min_groups=2), n_boot=1000, seed=5
    )
    rows = bootstrap_ci(
        accuracy, Y, PROBA, design=resampling_design("groups", names, min_groups=2), n_boot=1000, seed=5
    )
    assert (clustered.low, clustered.high) == pytest.approx((rows.low, rows.high))
    assert clustered.unit == rows.unit == "group (10 groups)"
    # Treating the 30 copies as independent rows is overconfident: a narrower interval.
    naive = bootstrap_ci(accuracy, y3, p3, n_boot=1000, seed=5)
    assert naive.high - naive.low < 0.8 * (clustered.high - clustered.low)


def test_group_bootstrap_draws_whole_groups() -> None:
    # Groups of 1, 2, 3 and 4 rows; each row is recognisable by its first probability.
    ids = np.arange(10) / 100
    proba = np.column_stack([ids, 1 - ids])
    y = np.array([0, 1] * 5)
    groups = np.array(["a", "b", "b", "c", "c", "c", "d", "d", "d", "d"])
    seen: list[np.ndarray] = []

    def record(y_resample: np.ndarray, p_resample: np.ndarray) -> float:
        seen.append(np.rint(p_resample[:, 0] * 100).astype(int))
        return 0.0

    bootstrap_ci(record, y, proba, design=resampling_design("groups", groups, min_groups=2), n_boot=50, seed=1)
    resamples = seen[1:]  # the first call scores the full data
    assert len(resamples) == 50
    for rows in resamples:
        counts = np.bincount(rows, minlength=10)
        for name in "abcd":
            members = counts[groups == name]
            assert np.all(members == members[0]), (name, counts)  # a group is drawn whole, or not at all
        assert sum(len(set(counts[groups == name])) for name in "abcd") == 4
    assert len({len(rows) for rows in resamples}) > 1  # lengths vary with the groups drawn


def test_image_resamples_keep_every_class_so_macro_auc_is_always_defined() -> None:
    # Before stratifying, 10-row resamples lacked a class often enough to skip ~1 in 4 AUCs.
    result = bootstrap_ci(macro_auc, Y, PROBA, n_boot=100, seed=11)
    assert (result.n_used, result.n_skipped, result.note) == (100, 0, "")


def test_resamples_where_the_metric_is_undefined_are_counted_and_noted() -> None:
    # Undefined (NaN, or ValueError) whenever row 0 — the only one with p0 = 0.90 — is not drawn;
    # the metric itself counts those resamples.
    undefined = []

    def needs_row_0(y: np.ndarray, p: np.ndarray) -> float:
        undefined.append(not np.any(p[:, 0] == 0.90))
        if undefined[-1] and len(undefined) % 2:
            raise ValueError("row 0 is missing")
        return float("nan") if undefined[-1] else accuracy(y, p)

    result = bootstrap_ci(needs_row_0, Y, PROBA, n_boot=300, seed=4)
    missing = sum(undefined[1:])  # the first call scores the full data
    assert 0 < missing < 300
    assert (result.n_used, result.n_skipped) == (300 - missing, missing)
    assert result.note == f"metric undefined on {missing} of 300 resamples (left out of the interval)"


def test_a_metric_undefined_on_the_full_data_or_on_every_resample_is_an_error() -> None:
    with pytest.raises(ValueError, match="class 2 is absent"):
        bootstrap_ci(macro_auc, Y[:6], PROBA[:6], n_boot=10)

    def defined_on_full_data_only(y: np.ndarray, p: np.ndarray) -> float:
        return 1.0 if len(np.unique(p, axis=0)) == 10 else float("nan")

    with pytest.raises(ValueError, match="undefined on all 5 resamples"):
        bootstrap_ci(defined_on_full_data_only, Y, PROBA, n_boot=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 0.0}, "level must lie strictly between 0 and 1, got 0.0"),
        ({"level": 1.0}, "level must lie strictly between 0 and 1"),
        ({"level": 95}, "level must lie strictly between 0 and 1, got 95"),
        ({"n_boot": 0}, "n_boot must be an integer >= 1, got 0"),
        ({"groups": np.array(["a"] * 9)}, r"groups must have shape \(10,\)"),
        (
            {"design": resampling_design("groups", list("ab") * 15, min_groups=2)},
            r"design.groups must have shape \(10,\)",
        ),
        ({"design": "groups"}, "design must be a Design"),
        ({"design": IMAGES, "groups": list("ab") * 5}, "give design or groups, not both"),
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(accuracy, Y, PROBA, **kwargs)


def test_bad_predictions() -> None:
    with pytest.raises(ValueError, match=r"proba must have shape \(n, K\) with n = 10 rows"):
        bootstrap_ci(accuracy, Y, PROBA[:9])
    not_summing = PROBA.copy()
    not_summing[4] = [0.5, 0.4, 0.2]
    with pytest.raises(ValueError, match=r"rows of proba must sum to 1.*row 4 summing to 1\.1"):
        bootstrap_ci(accuracy, Y, not_summing)
    with pytest.raises(ValueError, match=r"y_true contains label 3, expected labels 0\.\.2"):
        bootstrap_ci(accuracy, np.where(Y == 2, 3, Y), PROBA)
    with pytest.raises(ValueError, match="y_true must hold integer class labels"):
        bootstrap_ci(accuracy, Y + 0.5, PROBA)


def test_2000_resamples_of_macro_f1_on_3000_rows_are_fast() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=3000)
    logits = rng.normal(size=(3000, 4))
    logits[np.arange(3000), y] += 1.0
    start = time.process_time()  # CPU time of this process: not inflated by other jobs on the machine
    result = bootstrap_ci(macro_f1, y, softmax(logits, axis=1), n_boot=2000)
    assert time.process_time() - start < 3.0
    assert result.low < result.estimate < result.high
    assert result.high - result.low < 0.06


def test_paired_bootstrap_of_a_model_with_itself() -> None:
    result = paired_bootstrap(accuracy, Y, PROBA, PROBA.copy(), n_boot=300)
    assert (result.diff, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_uses_the_same_resamples_for_both_models() -> None:
    # Model B is always wrong (accuracy 0 on every resample), so the difference is A's accuracy:
    # its interval must be A's own bootstrap interval with the same seed.
    always_wrong = onehot((Y + 1) % 3)
    paired = paired_bootstrap(accuracy, Y, PROBA, always_wrong, n_boot=500, level=0.9, seed=2)
    alone = bootstrap_ci(accuracy, Y, PROBA, n_boot=500, level=0.9, seed=2)
    assert (paired.diff, paired.low, paired.high) == pytest.approx((alone.estimate, alone.low, alone.high))


def test_paired_bootstrap_p_value_by_its_definition() -> None:
    # A is always right, B wrong on half of 20 rows: every resample (short of drawing none of
    # B's ten errors, chance 2^-20 each) has d* > 0, so p = 2 * (1 + 0) / (B + 1).
    y = np.array([0, 1] * 10)
    b_pred = y.copy()
    b_pred[:10] = 1 - b_pred[:10]
    result = paired_bootstrap(accuracy, y, onehot(y, 2), onehot(b_pred, 2), n_boot=999, seed=0)
    assert result.diff == pytest.approx(0.5)
    assert result.p_value == pytest.approx(2 / 1000)
    assert 0 < result.low < 0.5 < result.high
    # swapping the models mirrors everything
    swapped = paired_bootstrap(accuracy, y, onehot(b_pred, 2), onehot(y, 2), n_boot=999, seed=0)
    assert (swapped.diff, swapped.low, swapped.high) == pytest.approx((-result.diff, -result.high, -result.low))
    assert swapped.p_value == result.p_value


def test_paired_bootstrap_p_value_when_the_models_are_close() -> None:
    # B differs from A on rows 0 and 5 only: right on 5 (A wrong), wrong on 0 (A right).
    proba_b = PROBA.copy()
    proba_b[0] = [0.1, 0.8, 0.1]
    proba_b[5] = [0.1, 0.8, 0.1]
    result = paired_bootstrap(accuracy, Y, PROBA, proba_b, n_boot=400, seed=9)
    d = [
        accuracy(Y[idx], PROBA[idx]) - accuracy(Y[idx], proba_b[idx]) for idx, _ in resample_indices(Y, IMAGES, 400, 9)
    ]
    d = np.array(d)
    expected = min(1.0, 2 * min((1 + np.sum(d <= 0)) / 401, (1 + np.sum(d >= 0)) / 401))
    assert result.diff == 0.0
    assert result.p_value == pytest.approx(expected)
    assert result.p_value > 0.5


def test_paired_bootstrap_refuses_mismatched_models() -> None:
    with pytest.raises(ValueError, match=r"proba_b must have shape \(n, K\) with n = 10"):
        paired_bootstrap(accuracy, Y, PROBA, PROBA[:8])
    with pytest.raises(ValueError, match=r"proba_a and proba_b must have the same shape"):
        paired_bootstrap(accuracy, Y, PROBA, np.hstack([PROBA, np.zeros((10, 1))]))
