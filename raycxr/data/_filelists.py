"""Match a CSV list of images (the paper's fold files, a test-set list) to a dataset index.

One matcher serves every list raycxr reads (:func:`~raycxr.data.read_fold_files`, the
test set of :class:`~raycxr.data.TestSpec` ``files``), so a list means the same images
wherever it is given. A list names its images by exactly one of two columns:

* ``FILE NAME``: file names, case-insensitive, with or without an image suffix
  (``COVID-1`` and ``covid-1.png`` both name ``COVID/images/COVID-1.png``), as the
  paper's fold files do. A name that images of several classes share is told apart by a
  class column (class names, or the paper's numeric ``label``: :data:`PAPER_LABELS`).
* ``file``: paths relative to the data root (the dataset folder or the dataset CSV's folder).

A name of an image the task leaves out (a class not in ``--classes``) is skipped; a name
that matches no image is an error.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._index import IMAGE_SUFFIXES, DatasetIndex, relative_files
from raycxr.data._listing import listing

#: The classes the paper's fold files number 0–3 in their ``label`` column (Kaggle folder names).
PAPER_LABELS = ("COVID", "Normal", "Viral Pneumonia", "Lung_Opacity")
#: The columns that name images: file names, or paths relative to the data root.
NAME_COLUMNS = ("FILE NAME", "file")


def _name_key(name: str) -> str:
    """A ``FILE NAME`` entry as the upper-case file name without an image suffix."""
    name = posixpath.basename(name.replace("\\", "/"))
    stem, suffix = posixpath.splitext(name)
    return (stem if suffix.lower() in IMAGE_SUFFIXES else name).upper()


def _path_key(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/"))


def _class_column(
    table: pd.DataFrame, column: str, index: DatasetIndex, matches: list[list[int]]
) -> tuple[str, list[int]] | None:
    """A column of the list that gives each name's class, as labels of ``index``; else ``None``.

    A column qualifies when every value is a class name of the index (case-insensitive),
    or, for a column named ``label``, the paper's number of a class the index has
    (:data:`PAPER_LABELS`). It is used only if it agrees with the class of every name in
    the list that matches a single image: a column that contradicts those is not a class.
    """
    by_name = {name.upper(): label for label, name in enumerate(index.classes)}
    paper = {str(number): by_name.get(name.upper()) for number, name in enumerate(PAPER_LABELS)}
    candidates = []
    for other in table.columns.drop(column):
        values = table[other].str.strip()
        candidates.append((other, [by_name.get(v.upper()) for v in values]))
        if other.strip().lower() == "label":
            candidates.append((other, [paper.get(v) for v in values]))
    for other, labels in candidates:
        if None in labels:
            continue
        if all(index.labels[rows[0]] == label for rows, label in zip(matches, labels) if len(rows) == 1):
            return other, labels
    return None


def _resolve(csv: Path, table: pd.DataFrame, column: str, index: DatasetIndex, matches: list[list[int]]) -> list[int]:
    """One index row per name; a name several images share is resolved by the list's class column."""
    if all(len(rows) == 1 for rows in matches):
        return [rows[0] for rows in matches]
    found = _class_column(table, column, index, matches)
    result = []
    for j, (name, rows) in enumerate(zip(table[column], matches)):
        if len(rows) == 1:
            result.append(rows[0])
            continue
        if index.multilabel:  # no class column tells multi-label images apart
            images = ", ".join(index.paths[r].name for r in rows)
            raise ValueError(f"{csv}: file name {name!r} matches {len(rows)} images ({images}); name them by a 'file' "
                             "column of paths, or rename them.")  # fmt: skip
        n_classes = len(set(index.labels[rows]))
        classes = ", ".join(dict.fromkeys(index.classes[index.labels[r]] for r in rows))
        if found is None and n_classes > 1:
            raise ValueError(
                f"{csv}: file name {name!r} matches images of {n_classes} classes ({classes}); "
                f"add a column of class names or the paper's 'label' (0-3: {', '.join(PAPER_LABELS)}) "
                "to tell which, name the images by a 'file' column of paths, or rename them."
            )
        chosen = rows
        if found is not None:
            other, labels = found
            chosen = [r for r in rows if index.labels[r] == labels[j]]
            if not chosen:
                raise ValueError(
                    f"{csv}: file name {name!r} with class {index.classes[labels[j]]!r} (column {other!r}) "
                    f"matches no image: that name is an image of {classes}."
                )
        if len(chosen) > 1:
            images = ", ".join(index.paths[r].name for r in chosen)
            raise ValueError(
                f"{csv}: file name {name!r} matches {len(chosen)} images of class "
                f"{index.classes[index.labels[chosen[0]]]!r} ({images}); rename all but one."
            )
        result.append(chosen[0])
    return result


def match_file_list(
    csv: str | Path, index: DatasetIndex, root: str | Path | None = None, kind: str = "File list"
) -> np.ndarray:
    """The rows of ``index`` that the list ``csv`` names, sorted.

    Args:
        csv: The list: a CSV with a ``FILE NAME`` or a ``file`` column (see the module).
        index: The dataset.
        root: The data root a ``file`` column is relative to; a list with a ``file``
            column needs it.
        kind: What the list is, for the message when it does not exist (``Fold file``).

    Raises:
        ValueError: One line naming the list: it does not exist; it has both or neither
            name column; it names no image; a ``file`` column without ``root``; names not
            in the dataset; a name shared by images of several classes that no class
            column tells apart, or by several images of one class.
    """
    csv = Path(csv)
    if not csv.is_file():
        raise ValueError(f"{kind} {csv} does not exist.")
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    columns = [c for c in NAME_COLUMNS if c in table.columns]
    if len(columns) != 1:
        problem = "both" if columns else "neither"
        raise ValueError(
            f"{csv}: has {problem} of the columns 'file' and 'FILE NAME' (columns: {list(table.columns)}); "
            "give exactly one."
        )
    column = columns[0]
    table = table.assign(**{column: table[column].str.strip()})
    table = table[table[column] != ""].reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{csv}: names no image.")
    key: Callable[[str], str]
    if column == "file":
        if root is None:
            raise ValueError(f"{csv}: a 'file' column names paths relative to the data root, which is not known here.")
        keys, key = [_path_key(f) for f in relative_files(index, root)], _path_key
    else:
        keys, key = [stem.upper() for stem in index.stems], _name_key
    rows_of: dict[str, list[int]] = {}
    for row, k in enumerate(keys):
        rows_of.setdefault(k, []).append(row)
    wanted = [key(name) for name in table[column]]
    if index.absent:  # images of classes the task leaves out: absent, not unknown
        left_out = [k not in rows_of and _name_key(k) in index.absent for k in wanted]
        table = table[~np.asarray(left_out, dtype=bool)].reset_index(drop=True)
        wanted = [k for k, out in zip(wanted, left_out) if not out]
    unknown = sorted(set(wanted) - set(rows_of))
    if unknown:
        raise ValueError(f"{csv}: {len(unknown)} file name(s) are not in the dataset: {listing(unknown)}")
    rows = _resolve(csv, table, column, index, [rows_of[k] for k in wanted])
    return np.array(sorted(set(rows)), dtype=np.int64)
