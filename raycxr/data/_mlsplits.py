"""Multi-label splits: iterative stratification (Sechidis et al. 2011) of whole patients.

Single-label splits stratify one class per image; a multi-label image has L labels, and
stratifying them jointly is what ``iterstrat``'s ``MultilabelStratifiedKFold`` /
``MultilabelStratifiedShuffleSplit`` do: each part gets about its share of every label's
positives. The unit drawn is a **group** (a patient) when groups are given, else an image:

* a group's label vector is the OR of its images' known positives (NaN counts as 0: an unknown
  entry is no positive to balance), so a patient with one Edema image counts once for Edema;
* the groups are stratified, and every image follows its group, so no group straddles train,
  validation and test.

Fractions are therefore fractions of the groups, close to those of the images when groups are
small. The same seed gives the same split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit

from raycxr.data._splits import Split
from raycxr.multilabel import check_multilabel


def _label_name(j: int, classes: Sequence[str] | None) -> str:
    return repr(classes[j]) if classes is not None else f"label {j}"


def _units(labels: np.ndarray, groups: np.ndarray | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``(unit of each of rows, (U, L) bool positives of each unit, what a unit is)``."""
    positive = labels[rows] == 1.0  # NaN == 1.0 is False: unknown is no positive
    if groups is None:
        return np.arange(len(rows)), positive, "image"
    _, unit = np.unique(groups[rows], return_inverse=True)
    unit_positive = np.zeros((unit.max() + 1, labels.shape[1]), dtype=bool)
    np.logical_or.at(unit_positive, unit, positive)
    return unit, unit_positive, "group"


def _indicator(positive: np.ndarray) -> np.ndarray:
    """The units' labels as iterstrat takes them: a multilabel-indicator needs two columns or more."""
    if positive.shape[1] == 1:
        return np.hstack([positive, np.zeros_like(positive)]).astype(np.int64)
    return positive.astype(np.int64)


def _checked(
    labels: object, groups: object, rows: object, classes: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    y = check_multilabel(labels, classes=classes)
    g = None if groups is None else np.asarray(groups)
    if g is not None and g.shape != (len(y),):
        raise ValueError(f"groups must have one entry per image ({len(y)}), got shape {g.shape}.")
    r = np.arange(len(y)) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    missing = [j for j in range(y.shape[1]) if not np.any(y[r, j] == 1.0)]
    if missing:
        names = ", ".join(_label_name(j, classes) for j in missing)
        where = "" if rows is None else " among the rows to split"
        raise ValueError(
            f"multi-label split: {names} {'has' if len(missing) == 1 else 'have'} no positive image{where}; "
            "stratifying needs at least one (drop the label or add positives)."
        )
    return y, g, r


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _take(positive: np.ndarray, fraction: float, seed: int, unit: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``positive``'s units: (kept, taken), ``fraction`` of them taken, stratified by label."""
    n = len(positive)
    if n < 2 or math.ceil(fraction * n) >= n:  # scikit-learn's count: ceil(fraction · n) taken
        raise ValueError(
            f"multi-label split: {_plural(n, unit)} cannot give {what} a fraction {fraction:.3g} of them "
            "and keep the rest non-empty; use more data or another fraction."
        )
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    kept, taken = next(splitter.split(np.zeros(n), _indicator(positive)))
    return np.sort(kept), np.sort(taken)


def _rows_of(rows: np.ndarray, unit: np.ndarray, units: np.ndarray) -> np.ndarray:
    return np.sort(rows[np.isin(unit, units)])


def _check_training_labels(split: Split, labels: np.ndarray, classes: Sequence[str] | None, part: str) -> None:
    """Raise if the training rows lack a positive of some label: no model learns a label it never sees."""
    for j in range(labels.shape[1]):
        if not np.any(labels[split.train, j] == 1.0):
            raise ValueError(
                f"multi-label split: the training set of {part} has no positive of {_label_name(j, classes)} "
                "(all are in its validation or test set); give that label more positive groups or use fewer folds."
            )


def multilabel_folds(
    labels: np.ndarray,
    n_folds: int = 10,
    val_fraction: float = 0.1,
    seed: int = 0,
    groups: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> list[Split]:
    """K folds of a multi-label task: fold k tests, ``val_fraction`` of the rest validates; whole groups.

    The arguments and protocol are those of :func:`~raycxr.data.stratified_folds`, with
    iterative stratification of the groups' label vectors instead of one class per image.

    Args:
        labels: ``(N, L)`` label table (1, 0, NaN unknown) of every row of the index.
        n_folds: Number of folds.
        val_fraction: Fraction of each fold's non-test groups (images without groups) that validates.
        seed: The same seed gives the same folds.
        groups: Patient (or other) id of every row; no group straddles a fold's three parts.
        rows: Restrict folding to these rows (e.g. everything outside a holdout set).
        classes: The L label names, for messages.

    Raises:
        ValueError: Bad ``n_folds`` or ``val_fraction``; a label without a positive among the rows
            (named); fewer groups (images) than folds; a fold whose rest is too small to validate,
            or whose training set has no positive of some label (named).
    """
    if n_folds < 2:
        raise ValueError(f"folds must be at least 2, got {n_folds}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    y, g, r = _checked(labels, groups, rows, classes)
    unit, positive, kind = _units(y, g, r)
    if len(positive) < n_folds:
        where = "the data" if rows is None else "the rows to fold"
        raise ValueError(
            f"multi-label split: {where} has {_plural(len(positive), kind)}, but {n_folds} folds need at least "
            f"{n_folds}; use fewer folds."
        )
    splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = []
    for k, (rest, test) in enumerate(splitter.split(np.zeros(len(positive)), _indicator(positive))):
        kept, taken = _take(positive[rest], val_fraction, seed + k, kind, f"fold {k}'s validation set")
        split = Split(
            train=_rows_of(r, unit, rest[kept]), val=_rows_of(r, unit, rest[taken]), test=_rows_of(r, unit, test)
        )
        _check_training_labels(split, y, classes, f"fold {k}")
        splits.append(split)
    return splits


def multilabel_split(
    labels: np.ndarray,
    test_fraction: float = 0.1,
    val_fraction: float = 0.1,
    seed: int = 0,
    groups: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> Split:
    """One train / validation / test split of a multi-label task, stratified, whole groups.

    Args:
        labels: ``(N, L)`` label table (1, 0, NaN unknown).
        test_fraction: Fraction of the groups (images without groups) tested, in [0, 1); 0 leaves
            the test set empty (a held-out set drawn elsewhere).
        val_fraction: Fraction of *all* the groups that validates, in (0, 1); with the test
            fraction below 1.
        seed: The same seed gives the same split.
        groups: Patient (or other) id of every row; no group straddles the three parts.
        rows: Split only these rows.
        classes: The L label names, for messages.

    Raises:
        ValueError: Bad fractions; a label without a positive (named); too few groups for the
            fractions; a training set without a positive of some label (named).
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}.")
    if not 0.0 < val_fraction < 1.0 or test_fraction + val_fraction >= 1.0:
        raise ValueError(
            f"val_fraction must lie in (0, 1) with test_fraction + val_fraction < 1, got {val_fraction} "
            f"(test_fraction {test_fraction})."
        )
    y, g, r = _checked(labels, groups, rows, classes)
    unit, positive, kind = _units(y, g, r)
    units = np.arange(len(positive))
    test = units[:0]
    if test_fraction > 0:
        units, test = _take(positive, test_fraction, seed, kind, "the test set")
    kept, taken = _take(positive[units], val_fraction / (1.0 - test_fraction), seed + 1, kind, "the validation set")
    split = Split(
        train=_rows_of(r, unit, units[kept]), val=_rows_of(r, unit, units[taken]), test=_rows_of(r, unit, test)
    )
    _check_training_labels(split, y, classes, "the split")
    return split


def multilabel_holdout(
    labels: np.ndarray,
    fraction: float,
    seed: int = 0,
    groups: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> np.ndarray:
    """The rows of a held-out (test) set of ``fraction`` of the images, or of the groups, stratified by label.

    Raises:
        ValueError: ``fraction`` outside (0, 1); a label without a positive (named); too few
            images or groups for the fraction.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must lie in (0, 1), got {fraction}.")
    y, g, r = _checked(labels, groups, None, classes)
    unit, positive, kind = _units(y, g, r)
    _, taken = _take(positive, fraction, seed, kind, "the test set")
    return _rows_of(r, unit, taken)
