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


def read_fold_files(index: DatasetIndex, files: Sequence[str | Path]) -> PredefinedFolds:
    """Match fold files (CSV with a ``FILE NAME`` column, as the paper's) to the index.

    Names are matched to the images' file names without suffix, case-insensitively.
    Fold ``k`` of the result is the test set of ``files[k]``. A name that matches no
    image, or an image named by two folds, is an error; images no fold names are
    returned in ``unassigned`` (the paper's folds leave 917 Normal images out).

    Raises:
        ValueError: A file is missing or lacks ``FILE NAME``, names an unknown image, or
            folds overlap.
    """
    if not files:
        raise ValueError("No fold files given.")
    row_of = {stem.upper(): i for i, stem in enumerate(index.stems)}
    test_sets: list[np.ndarray] = []
    owner: dict[int, Path] = {}
    for file in map(Path, files):
        if not file.is_file():
            raise ValueError(f"Fold file {file} does not exist.")
        table = pd.read_csv(file, dtype=str)
        if "FILE NAME" not in table.columns:
            raise ValueError(f"{file}: no 'FILE NAME' column (columns: {list(table.columns)}).")
        names = table["FILE NAME"].str.strip().str.upper()
        unknown = sorted(set(names) - set(row_of))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise ValueError(f"{file}: {len(unknown)} file name(s) are not in the dataset: {shown}")
        rows = np.array(sorted(row_of[name] for name in names), dtype=np.int64)
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
