"""The checks every dataset adapter's reader shares, and the index it builds (single- or multi-label).

They give the one-line errors a bad copy of a dataset gets: a missing column (naming it and
the file), labels outside the documented values (named, counted) and listed images missing
on disk (counted, the first few named).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing


def read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A dataset's CSV table (all values as text), every documented column present.

    Raises:
        ValueError: The file is missing, or a documented column is not in it (both named).
    """
    if not path.is_file():
        raise ValueError(f"{path} does not exist.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {listing(missing)}; the documented columns are {', '.join(columns)}."
        )
    return table


def check_labels(values: Iterable[str], allowed: Sequence[str], path: Path, unit: str = "row(s)") -> None:
    """Every label is one of the dataset's documented values.

    Raises:
        ValueError: One line naming each unknown label with its count, and the allowed values.
    """
    counts = pd.Series(list(values), dtype=object).value_counts()
    unknown = [f"{name!r} ({n}×)" for name, n in counts.items() if name not in allowed]
    if unknown:
        raise ValueError(
            f"{path}: {int(counts[[n for n in counts.index if n not in allowed]].sum())} {unit} with label(s) "
            f"{', '.join(unknown)} outside the documented values {', '.join(allowed)}."
        )


def check_files(paths: Sequence[Path], source: Path, shown: int = 3) -> None:
    """Every listed image is on disk.

    Raises:
        ValueError: One line: how many are missing and the first ``shown`` of them.
    """
    missing = [p for p in paths if not p.is_file()]
    if missing:
        first = ", ".join(str(p) for p in missing[:shown]) + (" …" if len(missing) > shown else "")
        raise ValueError(f"{source}: {len(missing)} listed image(s) missing on disk: {first}")


def _sorted_rows(paths: Sequence[Path], source: Path) -> np.ndarray:
    """The row order that sorts ``paths``.

    Raises:
        ValueError: An image listed twice (named).
    """
    order = np.argsort(np.array([str(p) for p in paths], dtype=object), kind="stable")
    ordered = [paths[i] for i in order]
    if len(set(ordered)) != len(ordered):
        twice = sorted(str(p) for p, n in Counter(ordered).items() if n > 1)
        raise ValueError(f"{source}: image(s) listed more than once: {listing(twice)}")
    return order


def make_index(
    paths: Sequence[Path],
    labels: Sequence[str],
    classes: Sequence[str],
    groups: Sequence[str] | None,
    official_test: Sequence[bool] | None,
    source: Path,
) -> DatasetIndex:
    """A :class:`DatasetIndex` sorted by path, labels as indices into ``classes`` (classes with no image dropped).

    Raises:
        ValueError: An image listed twice, or fewer than two classes with images.
    """
    order = _sorted_rows(paths, source)
    present = [c for c in classes if c in set(labels)]
    if len(present) < 2:
        raise ValueError(f"{source}: found {len(present)} class(es) {present}; at least two are needed.")
    lookup = {c: i for i, c in enumerate(present)}
    return DatasetIndex(
        paths=tuple(paths[i] for i in order),
        labels=np.array([lookup[labels[i]] for i in order], dtype=np.int64),
        classes=tuple(present),
        groups=None if groups is None else np.array([str(groups[i]) for i in order], dtype=object),
        official_test=None if official_test is None else np.array([bool(official_test[i]) for i in order]),
    )


#: How a multi-label CSV cell may spell each value (CheXpert and MIMIC-CXR write 1.0 / 0.0 / -1.0 / blank).
LABEL_CELLS = {"1.0": 1.0, "1": 1.0, "0.0": 0.0, "0": 0.0, "-1.0": -1.0, "-1": -1.0, "": np.nan}


def read_label_columns(table: pd.DataFrame, columns: Sequence[str], path: Path) -> np.ndarray:
    """The ``(N, len(columns))`` float32 labels of a CheXpert-style table (cells as text, see :data:`LABEL_CELLS`).

    Raises:
        ValueError: One line naming the first column with a value outside 1.0, 0.0, -1.0 and
            blank, its unknown values (counted) and the file.
    """
    labels = np.empty((len(table), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        cells = table[column].str.strip()
        known = cells.isin(list(LABEL_CELLS))
        if not known.all():
            counts = cells[~known].value_counts()
            named = ", ".join(f"{value!r} ({n}×)" for value, n in counts.items())
            raise ValueError(
                f"{path}: column {column!r}: {int((~known).sum())} row(s) with value(s) {named} outside the "
                "documented values 1.0, 0.0, -1.0 and blank."
            )
        labels[:, j] = cells.map(LABEL_CELLS).to_numpy(dtype=np.float32)
    return labels


def make_multilabel_index(
    paths: Sequence[Path],
    labels: np.ndarray,
    label_names: Sequence[str],
    groups: Sequence[str] | None,
    official_test: Sequence[bool] | None,
    source: Path,
) -> DatasetIndex:
    """A multi-label :class:`DatasetIndex` sorted by path; every label column kept, even one without positives.

    Args:
        paths: One image per row.
        labels: ``(len(paths), len(label_names))`` values 1, 0, -1, NaN (see :mod:`raycxr.data._labels`).
        label_names: The dataset's label names, in column order (a fixed label space).
        groups: Each image's group (patient), or ``None``.
        official_test: Whether each image is in the dataset's own test split, or ``None``.
        source: The file named in errors.

    Raises:
        ValueError: An image listed twice, no images, or labels of the wrong shape or values.
    """
    if not len(paths):
        raise ValueError(f"{source}: no images.")
    labels = np.asarray(labels, dtype=np.float32)
    if labels.shape != (len(paths), len(label_names)):
        shape = (len(paths), len(label_names))
        raise ValueError(f"{source}: labels of shape {labels.shape}; {shape} expected (images × labels).")
    order = _sorted_rows(paths, source)
    return DatasetIndex(
        paths=tuple(paths[i] for i in order),
        labels=labels[order],
        classes=tuple(label_names),
        groups=None if groups is None else np.array([str(groups[i]) for i in order], dtype=object),
        official_test=None if official_test is None else np.array([bool(official_test[i]) for i in order]),
    )
