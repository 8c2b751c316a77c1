"""The resampling design: chosen from how the test set was drawn, and stated in every interval."""

from __future__ import annotations

import numpy as np
import pytest

from raycxr.evaluation import Design, accuracy, bootstrap_ci, macro_auc, macro_f1, paired_bootstrap, resampling_design
from raycxr.evaluation._design import resample_indices
from tests.evaluation.tables import PROBA, Y


def test_images_whatever_the_groups() -> None:
    design = resampling_design("images", np.arange(50))
    assert (design.unit, design.groups, design.note) == ("image", None, "")
    assert design.description == "image (stratified by class)"


def test_groups_when_there_are_enough_of_them() -> None:
    design = resampling_design("groups", np.repeat(np.arange(25), 4))
    assert (design.unit, design.n_groups, design.note) == ("group", 25, "")
    assert design.description == "group (25 groups)"
    assert design.groups is not None and design.groups.dtype.kind == "U"


@pytest.mark.parametrize(
    ("groups", "note"),
    [
        (np.repeat(np.arange(7), 3), "7 groups < 20: resampled images"),
        (["one"] * 5, "1 group < 20: resampled images"),
        (None, "no groups given: resampled images"),
    ],
)
def test_too_few_groups_fall_back_to_images_and_say_why(groups: object, note: str) -> None:
    design = resampling_design("groups", groups)
    assert (design.unit, design.note, design.description) == ("image", note, "image (stratified by class)")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("folds", None), {}, "test_drawn_by must be 'images' or 'groups', got 'folds'"),
        (("groups", list("ab")), {"min_groups": 1}, "min_groups must be an integer >= 2, got 1"),
        (("groups", np.zeros((3, 2))), {}, r"groups must be a non-empty 1-D array.*shape \(3, 2\)"),
        (("groups", []), {}, "groups must be a non-empty 1-D array"),
    ],
)
def test_bad_design_arguments(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resampling_design(*args, **kwargs)


def test_image_resamples_keep_the_class_counts() -> None:
    seen = [np.bincount(Y[idx], minlength=3) for idx, redrawn in resample_indices(Y, Design(), 200, 0) if not redrawn]
    assert len(seen) == 200
    assert all(np.array_equal(counts, [4, 3, 3]) for counts in seen)
    # ... but not the rows: resampling with replacement repeats some and leaves others out
    assert any(len(np.unique(idx)) < 10 for idx, _ in resample_indices(Y, Design(), 20, 0))


def _rare_class_in_one_group(n_groups: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """5 rows per group; class 2 only in group 0, classes 0 and 1 everywhere else."""
    groups = np.repeat(np.arange(n_groups), 5)
    y = np.where(np.arange(len(groups)) % 2 == 0, 0, 1)
    y[:5] = 2
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), len(y))
    return y, proba, groups


def test_group_draws_that_lose_a_class_are_redrawn_and_counted() -> None:
    y, proba, groups = _rare_class_in_one_group()
    design = resampling_design("groups", groups)
    draws = list(resample_indices(y, design, 1000, 1))
    assert all(np.any(y[idx] == 2) for idx, _ in draws)  # never lost
    redrawn = sum(discarded for _, discarded in draws)
    assert 0.3 < redrawn / (redrawn + 1000) < 0.42  # group 0 is missed by (19/20)^20 ≈ 0.36 of the draws
    redrawn = sum(discarded for _, discarded in draws[:100])  # the same seed draws the same first 100
    ci = bootstrap_ci(macro_auc, y, proba, design=design, n_boot=100, seed=1)
    assert (ci.n_used, ci.n_skipped, ci.n_redrawn, ci.unit) == (100, 0, redrawn, "group (20 groups)")
    assert ci.note == f"{redrawn} group draws lacked a class and were redrawn; class(es) 2 in one group only: " \
        "their source does not vary"  # fmt: skip


def test_paired_bootstrap_scores_both_models_on_the_same_group_resamples() -> None:
    y, proba, groups = _rare_class_in_one_group()
    other = proba[:, [1, 2, 0]]  # the same rows with the columns permuted: sorted rows identify a row
    seen: list[np.ndarray] = []

    def record(y_resample: np.ndarray, p_resample: np.ndarray) -> float:
        seen.append(np.sort(p_resample, axis=1))
        return accuracy(y_resample, p_resample)

    d = paired_bootstrap(record, y, proba, other, design=resampling_design("groups", groups), n_boot=50, seed=3)
    resamples = seen[2:]  # the first two calls score the full data
    assert len(resamples) == 100 and d.n_used == 50
    assert all(np.array_equal(a, b) for a, b in zip(resamples[0::2], resamples[1::2]))
    assert len({len(r) for r in resamples}) > 1 or len({r.tobytes() for r in resamples}) > 1
    assert d.unit == "group (20 groups)" and d.n_redrawn > 0 and "redrawn" in d.note


def test_interval_describes_itself() -> None:
    ci = bootstrap_ci(accuracy, Y, PROBA, n_boot=100)
    assert ci.describe() == f"0.700 [{ci.low:.3f}, {ci.high:.3f}] (95% CI, image (stratified by class), 100 resamples)"
    fallback = bootstrap_ci(accuracy, Y, PROBA, design=resampling_design("groups", list("abcde") * 2), n_boot=100)
    assert fallback.describe().endswith("100 resamples); 5 groups < 20: resampled images")
    assert (fallback.low, fallback.high) == (ci.low, ci.high)  # the same image resamples


def test_the_deprecated_groups_argument_means_a_group_design() -> None:
    y, proba, groups = _rare_class_in_one_group()
    with pytest.warns(DeprecationWarning, match="groups= is deprecated"):
        old = bootstrap_ci(accuracy, y, proba, groups=groups, n_boot=100, seed=2)
    assert old == bootstrap_ci(accuracy, y, proba, design=resampling_design("groups", groups), n_boot=100, seed=2)


def _kaggle_like(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4,242 test images from 8 sources, 96 % accuracy; Lung_Opacity (1) and Viral Pneumonia (3)
    each come from a single source, COVID (0) and Normal (2) from the other six."""
    rng = np.random.default_rng(seed)
    counts = [725, 1205, 2042, 270]  # the Kaggle class shares of 21,165 images, scaled to 4,242
    y = np.repeat(np.arange(4), counts)
    source = np.where(y == 1, 6, np.where(y == 3, 7, rng.integers(0, 6, len(y))))
    pred = np.where(rng.random(len(y)) < 0.96, y, (y + rng.integers(1, 4, len(y))) % 4)
    proba = np.full((len(y), 4), 0.02)
    proba[np.arange(len(y)), pred] = 0.94
    return y, proba, np.array([f"https://source-{s}.example" for s in source])


def test_kaggle_like_sources_fall_back_to_a_narrow_image_interval() -> None:
    y, proba, sources = _kaggle_like()
    design = resampling_design("groups", sources)
    assert (design.unit, design.note) == ("image", "8 groups < 20: resampled images")
    for metric in (accuracy, macro_f1):
        ci = bootstrap_ci(metric, y, proba, design=design, n_boot=300)
        assert ci.low < ci.estimate < ci.high
        assert ci.high - ci.low < 0.03, ci  # resampling the 8 sources gave macro-F1 [0.245, 0.950]
        assert (ci.n_used, ci.n_skipped, ci.unit) == (300, 0, "image (stratified by class)")
        assert ci.note == "8 groups < 20: resampled images"
    # Forcing a group bootstrap of 8 sources: classes 1 and 3 are never lost (draws are redrawn,
    # ~56 % of them), but the note says their source cannot vary.
    forced = bootstrap_ci(macro_f1, y, proba, design=resampling_design("groups", sources, min_groups=2), n_boot=100)
    assert forced.unit == "group (8 groups)" and forced.n_skipped == 0
    assert forced.n_redrawn > 50
    assert "class(es) 1, 3 in one group only" in forced.note
