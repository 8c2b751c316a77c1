"""Multi-label splits: whole groups, per-label proportions kept, seeded, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raycxr.data import Split, multilabel_folds, multilabel_split

CLASSES = ("Atelectasis", "Cardiomegaly", "Edema", "Effusion", "Pneumothorax")
RATES = [0.03, 0.1, 0.2, 0.3, 0.45]


def _table(n: int = 1000, seed: int = 3) -> np.ndarray:
    """n images × 5 labels with the positive rates RATES; a fifth of the entries unknown (NaN)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(RATES))) < RATES).astype(np.float32)
    labels[rng.random(labels.shape) < 0.2] = math.nan
    return labels


def _groups(n: int = 1000, n_groups: int = 300, seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_groups, n)


def _check_partition(split: Split, rows: np.ndarray) -> None:
    parts = [split.train, split.val, split.test]
    assert all(np.array_equal(p, np.sort(p)) for p in parts)
    together = np.concatenate(parts)
    assert len(together) == len(set(together.tolist())) and np.array_equal(np.sort(together), rows)


def _known_rate(labels: np.ndarray) -> np.ndarray:
    return np.nanmean(labels, axis=0)


def test_folds_partition_the_images_and_keep_every_labels_positives_per_fold() -> None:
    """Without groups each fold's test set holds its share of every label's positives within ±1 image.

    Tolerance: iterative stratification assigns each label's positives to the fold that lacks most of
    them, so a fold's count is the share total / k rounded either way: |count − total / k| < 1.
    """
    labels = _table()
    folds = multilabel_folds(labels, n_folds=5, val_fraction=0.1, seed=0)
    positives = (labels == 1).sum(axis=0)
    assert len(folds) == 5
    tests = np.concatenate([s.test for s in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(labels)))  # every image tested once
    for split in folds:
        _check_partition(split, np.arange(len(labels)))
        assert np.all(np.abs((labels[split.test] == 1).sum(axis=0) - positives / 5) < 1.0)
        assert len(split.val) == pytest.approx(0.1 * (len(split.train) + len(split.val)), abs=1)
        # Proportions among known entries (NaN excluded) stay within 0.03 of the whole set's.
        assert np.abs(_known_rate(labels[split.test]) - _known_rate(labels)).max() < 0.03


def test_groups_never_straddle_and_proportions_stay_near_the_whole_sets() -> None:
    """With groups (~3.3 images each): whole groups per part.

    Tolerances: a fold's share of each label's *positive groups* (the stratified quantity) is within
    ±1 group of total / k; the per-image rate among known entries within 0.08 of the whole set's in a
    test fold of ~200 images (group sizes and unknown entries vary), 0.03 in the training sets.
    """
    labels, groups = _table(), _groups()
    folds = multilabel_folds(labels, n_folds=5, val_fraction=0.2, seed=1, groups=groups)
    group_ids = np.unique(groups)
    group_positive = np.array([(labels[groups == g] == 1).any(axis=0) for g in group_ids])
    for k, split in enumerate(folds):
        _check_partition(split, np.arange(len(labels)))
        train, val, test = (set(groups[p].tolist()) for p in (split.train, split.val, split.test))
        assert not (train & val or train & test or val & test), k
        tested = np.isin(group_ids, list(test))
        assert np.all(np.abs(group_positive[tested].sum(axis=0) - group_positive.sum(axis=0) / 5) <= 1.0), k
        assert np.abs(_known_rate(labels[split.test]) - _known_rate(labels)).max() < 0.08, k
        assert np.abs(_known_rate(labels[split.train]) - _known_rate(labels)).max() < 0.03, k
    tested_groups = [set(groups[s.test].tolist()) for s in folds]
    assert sum(len(t) for t in tested_groups) == len(group_ids)  # each group tested in exactly one fold


def test_the_same_seed_gives_the_same_folds() -> None:
    labels, groups = _table(), _groups()
    first = multilabel_folds(labels, 5, 0.1, seed=7, groups=groups)
    again = multilabel_folds(labels, 5, 0.1, seed=7, groups=groups)
    other = multilabel_folds(labels, 5, 0.1, seed=8, groups=groups)
    for a, b in zip(first, again):
        assert all(np.array_equal(x, y) for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test)))
    assert not all(np.array_equal(a.test, b.test) for a, b in zip(first, other))


def test_rows_restrict_the_folds() -> None:
    labels = _table()
    rows = np.arange(100, 1000, 2)
    for split in multilabel_folds(labels, 3, 0.1, seed=0, rows=rows[::-1]):
        _check_partition(split, rows)


def test_one_train_val_test_split() -> None:
    labels, groups = _table(), _groups()
    split = multilabel_split(labels, test_fraction=0.2, val_fraction=0.1, seed=0, groups=groups)
    _check_partition(split, np.arange(len(labels)))
    train, val, test = (set(groups[p].tolist()) for p in (split.train, split.val, split.test))
    assert not (train & val or train & test or val & test)
    n_groups = len(np.unique(groups))
    assert len(test) == math.ceil(0.2 * n_groups) and len(val) == pytest.approx(0.1 * n_groups, abs=1)
    for part in (split.train, split.val, split.test):
        assert np.abs(_known_rate(labels[part]) - _known_rate(labels)).max() < 0.1
    again = multilabel_split(labels, test_fraction=0.2, val_fraction=0.1, seed=0, groups=groups)
    assert np.array_equal(again.test, split.test) and np.array_equal(again.val, split.val)
    no_test = multilabel_split(labels, test_fraction=0.0, val_fraction=0.25, seed=0)
    assert len(no_test.test) == 0 and len(no_test.val) == 250
    _check_partition(no_test, np.arange(len(labels)))


def test_one_label_is_split_too() -> None:
    labels = _table()[:, 3:4]
    split = multilabel_split(labels, 0.2, 0.2, seed=0)
    assert (labels[split.test] == 1).sum() == pytest.approx((labels == 1).sum() * 0.2, abs=1)


def test_a_label_without_a_positive_is_named() -> None:
    labels = _table()
    labels[:, 2] = np.where(np.isnan(labels[:, 2]), np.nan, 0.0)
    labels[:, 4] = np.nan
    with pytest.raises(ValueError) as error:
        multilabel_folds(labels, 5, classes=CLASSES)
    assert str(error.value) == (
        "multi-label split: 'Edema', 'Pneumothorax' have no positive image; stratifying needs at least one "
        "(drop the label or add positives)."
    )
    with pytest.raises(ValueError, match=r"^multi-label split: label 2, label 4 have no positive image;"):
        multilabel_split(labels)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda y, g: multilabel_folds(y[:40], 5, groups=g[:40] % 4),
            r"^multi-label split: the data has 4 groups, but 5 folds need at least 5; use fewer folds\.$",
        ),
        (lambda y, g: multilabel_folds(y, 1), r"^folds must be at least 2, got 1\.$"),
        (lambda y, g: multilabel_folds(y, 5, val_fraction=1.0), r"^val_fraction must lie in \(0, 1\), got 1\.0\.$"),
        (lambda y, g: multilabel_folds(y, 5, groups=g[:10]), r"^groups must have one entry per image \(1000\)"),
        (lambda y, g: multilabel_split(y, 0.5, 0.5), r"^val_fraction must lie in \(0, 1\) with test_fraction \+"),
        (lambda y, g: multilabel_split(y, -0.1), r"^test_fraction must lie in \[0, 1\), got -0\.1\.$"),
        (
            lambda y, g: multilabel_split(y[:3], 0.5, 0.4),
            r"^multi-label split: 1 image cannot give the validation set a fraction 0\.8 of them",
        ),
    ],
)
def test_bad_arguments_are_one_line(call: object, message: str) -> None:
    labels = _table()
    labels[:3] = 1.0
    with pytest.raises(ValueError, match=message) as error:
        call(labels, _groups())
    assert "\n" not in str(error.value)


def test_a_training_set_without_a_positive_of_a_label_is_refused() -> None:
    """A label whose positives are all in one group: the fold testing that group cannot learn it."""
    labels = _table()
    labels[:, 0] = 0.0
    groups = _groups()
    labels[groups == groups[0], 0] = 1.0
    with pytest.raises(ValueError, match=r"the training set of fold \d has no positive of 'Atelectasis' \(all are"):
        multilabel_folds(labels, 5, groups=groups, classes=CLASSES)
