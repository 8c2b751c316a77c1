"""Train / validation / test splits: the paper's protocol, group-aware and predefined folds."""

from __future__ import annotations

import dataclasses
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


def _split_val(
    rest: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rest`` into (train, val), stratified, and group-aware when groups are given."""
    if groups is None:
        train, val = train_test_split(
            rest, test_size=val_fraction, stratify=labels[rest], random_state=seed, shuffle=True
        )
        return np.sort(train), np.sort(val)
    n_splits = max(2, round(1.0 / val_fraction))
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
) -> list[Split]:
    """The paper's protocol: fold k is the test set; 10 % of the rest (stratified) validates.

    Args:
        labels: Label of every row of the index.
        n_folds: Number of folds.
        val_fraction: Fraction of the non-test rows used for validation.
        seed: Shuffling seed; the same seed gives the same folds.
        groups: When given, folds and validation sets never split a group
            (``StratifiedGroupKFold``).
        rows: Restrict folding to these rows (e.g. everything outside a holdout set).
    """
    _check_folds(n_folds, val_fraction)
    rows = np.arange(len(labels)) if rows is None else np.sort(np.asarray(rows))
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(rows, labels[rows])
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(rows, labels[rows], groups[rows])
    splits = []
    for k, (rest_pos, test_pos) in enumerate(parts):
        train, val = _split_val(rows[rest_pos], labels, groups, val_fraction, seed + k)
        splits.append(Split(train=train, val=val, test=np.sort(rows[test_pos])))
    return splits


def holdout_split(
    labels: np.ndarray, fraction: float, seed: int = 0, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Set aside a stratified (group-aware when groups are given) held-out test set.

    Returns:
        ``(development_rows, holdout_rows)``; with ``fraction == 0`` the holdout is empty.
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
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        dev, hold = next(splitter.split(rows, labels, groups))
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
