"""Train / validation / test splits: the paper's protocol, group-aware and predefined folds.

The held-out test set outside every fold is drawn by :func:`~raycxr.data.draw_test`
(:mod:`raycxr.data._testset`), the one implementation behind ``--holdout-fraction`` and an
experiment's ``--test-fraction``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from raycxr.data._filelists import match_file_list
from raycxr.data._index import DatasetIndex


@dataclasses.dataclass(frozen=True)
class Split:
    """Row indices (into a :class:`DatasetIndex`) of one fold's three parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _check_folds(n_folds: int, val_fraction: float) -> None:
    if n_folds < 2:
        raise ValueError(f"folds must be at least 2, got {n_folds}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")


def _groups(n: int) -> str:
    return f"{n} group" + ("" if n == 1 else "s")


def _class_name(label: int, classes: Sequence[str] | None) -> str:
    return repr(classes[label]) if classes is not None else f"label {label}"


def _check_training_classes(
    train: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    classes: Sequence[str] | None,
    part: str,
    elsewhere: str,
) -> None:
    """Raise if the training rows ``train`` lack a class of ``rows``: no model can learn a class it never sees."""
    for label in np.setdiff1d(labels[rows], labels[train]):
        n = len(np.unique(groups[rows][labels[rows] == label]))
        held = "its 1 group is" if n == 1 else f"all {n} of its groups are"
        raise ValueError(
            f"split 'group': {part} has no image of class {_class_name(label, classes)} ({held} in {elsewhere}); "
            "give that class more groups or use split 'stratified'."
        )


def _warn_missing_classes(
    parts: list[tuple[str, np.ndarray]], present: np.ndarray, labels: np.ndarray, classes: Sequence[str] | None
) -> None:
    """Warn (once) about test or validation parts without some class of ``present``.

    A group split may leave such a gap when a class has fewer groups than parts; the
    fold still trains on every class, but its per-class metrics (recall, AUC) for a
    missing class are undefined, and macro averages are over fewer classes.
    """
    gaps = []
    for name, rows in parts:
        missing = np.setdiff1d(present, labels[rows])
        if len(missing):
            gaps.append(f"{name}: {', '.join(_class_name(label, classes) for label in missing)}")
    if gaps:
        warnings.warn(
            "split 'group': some test or validation sets have no image of a class (its per-class metrics "
            "are undefined there): " + "; ".join(gaps),
            UserWarning,
            stacklevel=3,
        )


def _split_val(
    rest: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    val_fraction: float,
    seed: int,
    fold: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rest`` (fold ``fold``'s non-test rows) into (train, val), stratified, group-aware with groups."""
    if groups is None:
        train, val = train_test_split(
            rest, test_size=val_fraction, stratify=labels[rest], random_state=seed, shuffle=True
        )
        return np.sort(train), np.sort(val)
    n_splits = max(2, round(1.0 / val_fraction))
    n_groups = len(np.unique(groups[rest]))
    if n_groups < n_splits:
        raise_fraction = f"val_fraction {1 / n_groups:.3g} or more, " if n_groups >= 2 else ""
        raise ValueError(
            f"split 'group': fold {fold} has {_groups(n_groups)} outside its test set, but val_fraction "
            f"{val_fraction} takes one of {n_splits} parts of them and needs at least {n_splits}; "
            f"use {raise_fraction}fewer folds or split 'stratified'."
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_pos, val_pos = next(splitter.split(rest, labels[rest], groups[rest]))
    return np.sort(rest[train_pos]), np.sort(rest[val_pos])


def stratified_folds(
    labels: np.ndarray,
    n_folds: int = 10,
    val_fraction: float = 0.1,
    seed: int = 0,
    groups: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> list[Split]:
    """The paper's protocol: fold k is the test set; 10 % of the rest (stratified) validates.

    With groups, a fold's training set must have every class; a test or validation set
    without some class (a class with fewer groups than folds) is allowed with a warning.

    Args:
        labels: Label of every row of the index.
        n_folds: Number of folds.
        val_fraction: Fraction of the non-test rows used for validation.
        seed: Shuffling seed; the same seed gives the same folds.
        groups: When given, folds and validation sets never split a group
            (``StratifiedGroupKFold``).
        rows: Restrict folding to these rows (e.g. everything outside a holdout set).
        classes: Class names by label, for messages.

    Raises:
        ValueError: Bad ``n_folds`` or ``val_fraction``; with groups, fewer groups than the
            folds or a fold's validation split need, or a fold whose training set lacks a class.

    Warns:
        UserWarning: With groups, a fold's test or validation set lacks a class.
    """
    _check_folds(n_folds, val_fraction)
    rows = np.arange(len(labels)) if rows is None else np.sort(np.asarray(rows))
    where = "the data" if len(rows) == len(labels) else "the data outside the holdout set"
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(rows, labels[rows])
    else:
        n_groups = len(np.unique(groups[rows]))
        if n_groups < n_folds:
            fewer = f"at most {n_groups} folds or " if n_groups >= 2 else ""
            raise ValueError(
                f"split 'group': {where} has {_groups(n_groups)}, but {n_folds} folds need at least {n_folds}; "
                f"use {fewer}split 'stratified'."
            )
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(rows, labels[rows], groups[rows])
    splits = []
    for k, (rest_pos, test_pos) in enumerate(parts):
        train, val = _split_val(rows[rest_pos], labels, groups, val_fraction, seed + k, fold=k)
        splits.append(Split(train=train, val=val, test=np.sort(rows[test_pos])))
    if groups is not None:
        for k, split in enumerate(splits):
            part = f"the training set of fold {k}"
            _check_training_classes(
                split.train, rows, labels, groups, classes, part, "the fold's test or validation set"
            )
        tested = [
            (f"fold {k} {name}", part_rows)
            for k, split in enumerate(splits)
            for name, part_rows in (("test", split.test), ("validation", split.val))
        ]
        _warn_missing_classes(tested, np.unique(labels[rows]), labels, classes)
    return splits


@dataclasses.dataclass(frozen=True)
class PredefinedFolds:
    """Test sets read from fold files, and the dataset images no fold names."""

    test_sets: list[np.ndarray]
    unassigned: np.ndarray


def read_fold_files(
    index: DatasetIndex, files: Sequence[str | Path], root: str | Path | None = None
) -> PredefinedFolds:
    """Match fold files (CSV with a ``FILE NAME`` column, as the paper's, or a ``file`` column) to the index.

    Each file is matched by :func:`~raycxr.data._filelists.match_file_list`, the matcher
    of every image list: names are the images' file names, case-insensitive, with or
    without suffix; a name several classes share is told apart by the file's class column
    (class names, or the paper's numeric ``label``). Fold ``k`` of the result is the test
    set of ``files[k]``. An image named by two folds is an error; images no fold names are
    returned in ``unassigned`` (the paper's folds leave 917 Normal images out).

    Args:
        index: The dataset.
        files: The fold files, in fold order.
        root: The data root, for fold files with a ``file`` column of relative paths.

    Raises:
        ValueError: No files; a file is missing, has no name column, names an unknown
            image or an image of several classes that no class column tells apart; or
            folds overlap.
    """
    if not files:
        raise ValueError("No fold files given.")
    test_sets: list[np.ndarray] = []
    owner: dict[int, Path] = {}
    for file in map(Path, files):
        rows = match_file_list(file, index, root, kind="Fold file")
        for row in rows:
            if row in owner:
                raise ValueError(f"{file}: image {index.paths[row].name} is already in fold {owner[row]}.")
            owner[int(row)] = file
        test_sets.append(rows)
    unassigned = np.array(sorted(set(range(len(index))) - set(owner)), dtype=np.int64)
    return PredefinedFolds(test_sets=test_sets, unassigned=unassigned)


def predefined_splits(
    index: DatasetIndex, folds: PredefinedFolds, val_fraction: float = 0.1, seed: int = 0
) -> list[Split]:
    """Splits from predefined test sets: fold k tests, 10 % of the other folds validates."""
    _check_folds(len(folds.test_sets), val_fraction)
    splits = []
    for k, test in enumerate(folds.test_sets):
        rest = np.concatenate([t for j, t in enumerate(folds.test_sets) if j != k])
        train, val = _split_val(rest, index.labels, None, val_fraction, seed + k)
        splits.append(Split(train=train, val=val, test=test))
    return splits


def fold_files_in(folder: str | Path) -> list[Path]:
    """``fold1.csv, fold2.csv, …`` of a folder, in numeric order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Fold directory {folder} does not exist.")
    files = sorted(folder.glob("fold*.csv"), key=lambda p: int("".join(filter(str.isdigit, p.stem)) or 0))
    if not files:
        raise ValueError(f"{folder}: no fold*.csv files.")
    return files


def train_val_split(
    rows: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` into (train, validation), stratified, never splitting a group when groups are given."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    return _split_val(np.sort(np.asarray(rows)), labels, groups, val_fraction, seed)
