"""Train / validation / test splits: the paper's protocol, group-aware and predefined folds."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
    train_test_split,
)

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


def holdout_split(
    labels: np.ndarray,
    fraction: float,
    seed: int = 0,
    groups: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Set aside a stratified (group-aware when groups are given) held-out test set.

    Args:
        labels: Label of every row of the index.
        fraction: Fraction of the rows held out (``0``: none).
        seed: Shuffling seed.
        groups: When given, no group is split between holdout and development rows.
        classes: Class names by label, for messages.

    Returns:
        ``(development_rows, holdout_rows)``; with ``fraction == 0`` the holdout is empty.

    Raises:
        ValueError: A fraction outside [0, 1); with groups, fewer groups than the fraction
            needs, or development rows that lack a class.

    Warns:
        UserWarning: With groups, the holdout lacks a class.
    """
    rows = np.arange(len(labels))
    if fraction == 0.0:
        return rows, rows[:0]
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in [0, 1), got {fraction}.")
    if groups is None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        dev, hold = next(splitter.split(rows, labels))
    else:
        n_splits = max(2, round(1.0 / fraction))
        n_groups = len(np.unique(groups))
        if n_groups < n_splits:
            larger = f"holdout_fraction {1 / n_groups:.3g} or more, 0" if n_groups >= 2 else "holdout_fraction 0"
            raise ValueError(
                f"split 'group': the data has {_groups(n_groups)}, but holdout_fraction {fraction} takes one of "
                f"{n_splits} parts of them and needs at least {n_splits}; use {larger} (no holdout) "
                "or split 'stratified'."
            )
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        dev, hold = next(splitter.split(rows, labels, groups))
        _check_training_classes(dev, rows, labels, groups, classes, "the development set", "the holdout set")
        _warn_missing_classes([("holdout", hold)], np.unique(labels), labels, classes)
    return np.sort(dev), np.sort(hold)


@dataclasses.dataclass(frozen=True)
class PredefinedFolds:
    """Test sets read from fold files, and the dataset images no fold names."""

    test_sets: list[np.ndarray]
    unassigned: np.ndarray


#: The classes the paper's fold files number 0–3 in their ``label`` column (Kaggle folder names).
PAPER_LABELS = ("COVID", "Normal", "Viral Pneumonia", "Lung_Opacity")


def _class_column(
    table: pd.DataFrame, index: DatasetIndex, rows_of: dict[str, list[int]]
) -> tuple[str, list[int]] | None:
    """A column of a fold file that gives each name's class, as labels of ``index``; else ``None``.

    A column qualifies when every value is a class name of the index (case-insensitive),
    or, for a column named ``label``, the paper's number of a class the index has
    (:data:`PAPER_LABELS`). It is used only if it agrees with the class of every name in
    the file that matches a single image: a column that contradicts those is not a class.
    """
    by_name = {name.upper(): label for label, name in enumerate(index.classes)}
    paper = {str(number): by_name.get(name.upper()) for number, name in enumerate(PAPER_LABELS)}
    matches = [rows_of[name] for name in table["FILE NAME"].str.strip().str.upper()]
    candidates = []
    for column in table.columns.drop("FILE NAME"):
        values = table[column].fillna("").str.strip()
        candidates.append((column, [by_name.get(v.upper()) for v in values]))
        if column.strip().lower() == "label":
            candidates.append((column, [paper.get(v) for v in values]))
    for column, labels in candidates:
        if None in labels:
            continue
        if all(index.labels[rows[0]] == label for rows, label in zip(matches, labels) if len(rows) == 1):
            return column, labels
    return None


def read_fold_files(index: DatasetIndex, files: Sequence[str | Path]) -> PredefinedFolds:
    """Match fold files (CSV with a ``FILE NAME`` column, as the paper's) to the index.

    Names are matched to the images' file names without suffix, case-insensitively.
    Fold ``k`` of the result is the test set of ``files[k]``. A name that matches no
    image, or an image named by two folds, is an error; images no fold names are
    returned in ``unassigned`` (the paper's folds leave 917 Normal images out).

    A name that images of several classes share (``COVID/images/x-1.png`` and
    ``Normal/images/x-1.png``) is assigned by the file's class column: class names, or
    the paper's numeric ``label`` (:data:`PAPER_LABELS`); see :func:`_class_column`.
    Without one, such a name is an error rather than a guess.

    Raises:
        ValueError: A file is missing or lacks ``FILE NAME``, names an unknown image, names
            an image of several classes and has no class column that tells which, or folds
            overlap.
    """
    if not files:
        raise ValueError("No fold files given.")
    rows_of: dict[str, list[int]] = {}
    for i, stem in enumerate(index.stems):
        rows_of.setdefault(stem.upper(), []).append(i)
    test_sets: list[np.ndarray] = []
    owner: dict[int, Path] = {}
    for file in map(Path, files):
        if not file.is_file():
            raise ValueError(f"Fold file {file} does not exist.")
        table = pd.read_csv(file, dtype=str)
        if "FILE NAME" not in table.columns:
            raise ValueError(f"{file}: no 'FILE NAME' column (columns: {list(table.columns)}).")
        if index.absent:  # images of classes the task leaves out: absent, not unknown
            table = table[~table["FILE NAME"].str.strip().str.upper().isin(index.absent - set(rows_of))]
        names = table["FILE NAME"].str.strip().str.upper()
        unknown = sorted(set(names) - set(rows_of))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise ValueError(f"{file}: {len(unknown)} file name(s) are not in the dataset: {shown}")
        rows = np.array(sorted(_fold_rows(file, table, index, rows_of)), dtype=np.int64)
        for row in rows:
            if row in owner:
                raise ValueError(f"{file}: image {index.paths[row].name} is already in fold {owner[row]}.")
            owner[int(row)] = file
        test_sets.append(rows)
    unassigned = np.array(sorted(set(range(len(index))) - set(owner)), dtype=np.int64)
    return PredefinedFolds(test_sets=test_sets, unassigned=unassigned)


def _fold_rows(file: Path, table: pd.DataFrame, index: DatasetIndex, rows_of: dict[str, list[int]]) -> list[int]:
    """The index rows a fold file names; a name several classes share is resolved by its class column."""
    names = table["FILE NAME"].str.strip()
    matches = [rows_of[name.upper()] for name in names]
    if all(len(rows) == 1 for rows in matches):
        return [rows[0] for rows in matches]
    found = _class_column(table, index, rows_of)
    result = []
    for j, (name, rows) in enumerate(zip(names, matches)):
        if len(rows) == 1:
            result.append(rows[0])
            continue
        n_classes = len(set(index.labels[rows]))
        classes = ", ".join(dict.fromkeys(index.classes[index.labels[r]] for r in rows))
        if found is None and n_classes > 1:
            raise ValueError(
                f"{file}: file name {name!r} matches images of {n_classes} classes ({classes}); "
                f"add a column of class names or the paper's 'label' (0-3: {', '.join(PAPER_LABELS)}) "
                "to tell which, or rename the images."
            )
        chosen = rows
        if found is not None:
            column, labels = found
            chosen = [r for r in rows if index.labels[r] == labels[j]]
            if not chosen:
                raise ValueError(
                    f"{file}: file name {name!r} with class {index.classes[labels[j]]!r} (column {column!r}) "
                    f"matches no image: that name is an image of {classes}."
                )
        if len(chosen) > 1:
            images = ", ".join(index.paths[r].name for r in chosen)
            raise ValueError(
                f"{file}: file name {name!r} matches {len(chosen)} images of class "
                f"{index.classes[index.labels[chosen[0]]]!r} ({images}); rename all but one."
            )
        result.append(chosen[0])
    return result


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
