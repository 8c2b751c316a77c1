"""COVIDx CXR (COVID-Net, Wang et al. 2020; CXR-3 Pavlova et al. 2022; CXR-4 Wu et al. 2023).

The layout (COVID-Net's ``docs/COVIDx.md`` and the Kaggle release of CXR-3/4): label files
``train.txt``, ``val.txt`` (CXR-4; CXR-3 has none) and ``test.txt``, one image a line with
four space-separated columns ``patient_id filename class data_source`` and no header; the
images sit in ``train/``, ``val/`` and ``test/``. CXR-3/4 label ``positive`` / ``negative``
(COVID-19); the older releases (v5–v9, their files renamed to this layout) ``COVID-19`` /
``normal`` / ``pneumonia``. The version is told by the labels: one file may not mix them.

Groups are the ``patient_id`` as written (ids are not prefixed by their source: two sources'
patients with the same id share a group, which only makes a group split stricter).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from raycxr.data._checks import check_files, check_labels, make_index
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex

#: The documented columns of a COVIDx label file, in order.
COLUMNS = ("patient_id", "filename", "class", "data_source")
#: The label files, in the order they are read; ``val.txt`` is optional.
SPLITS = ("train", "val", "test")
BINARY = ("negative", "positive")  #: CXR-3 / CXR-4
THREE_CLASS = ("COVID-19", "normal", "pneumonia")  #: v5 – v9


def _is_covidx(root: Path) -> bool:
    return (root / "train.txt").is_file() and (root / "test.txt").is_file() and (root / "train").is_dir()


def read_label_file(path: Path) -> pd.DataFrame:
    """One COVIDx label file as a table with the columns :data:`COLUMNS`.

    Raises:
        ValueError: One line naming the file: a missing column (a line with fewer fields: the
            first such line), more than four columns, or an empty file.
    """
    try:
        table = pd.read_csv(path, sep=" ", header=None, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty; expected lines of {' '.join(COLUMNS)}.") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: expected 4 space-separated columns {' '.join(COLUMNS)}: {error}".strip()) from None
    if table.shape[1] < len(COLUMNS):
        missing = COLUMNS[table.shape[1] :]
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; the documented columns are {' '.join(COLUMNS)}."
        )
    if table.shape[1] > len(COLUMNS):
        raise ValueError(f"{path}: {table.shape[1]} columns; the documented columns are {' '.join(COLUMNS)}.")
    table.columns = list(COLUMNS)
    for column in COLUMNS:
        blank = (table[column].str.strip() == "").to_numpy().nonzero()[0]
        if len(blank):
            raise ValueError(f"{path}, line {blank[0] + 1}: missing column {column} ({len(blank)} line(s) lack it).")
    return table


@register_dataset(
    "covidx",
    description="COVIDx CXR-3/4 (COVID-Net), and older releases in the same layout",
    layout="train.txt, [val.txt,] test.txt (patient_id filename class data_source); images in train/ val/ test/",
    classes=BINARY + THREE_CLASS,
    groups="patients (patient_id)",
    official_split="test.txt",
    detect=_is_covidx,
)
def read_covidx(root: Path, variant: str | None) -> DatasetIndex:
    """A COVIDx folder: every image of ``train.txt``, ``val.txt`` and ``test.txt``; ``test.txt`` is the official test.

    Classes: ``negative``, ``positive`` (CXR-3/4) or ``COVID-19``, ``normal``, ``pneumonia``
    (older releases), told by the labels.

    Raises:
        ValueError: A label file missing (``train.txt``, ``test.txt``) or malformed, labels
            outside the release's values (named, counted), listed images missing on disk.
    """
    if not root.is_dir():
        raise ValueError(f"--dataset covidx: {root} is not a folder (it holds train.txt, test.txt, train/, test/).")
    tables = []
    for split in SPLITS:
        path = root / f"{split}.txt"
        if not path.is_file():
            if split == "val":
                continue
            raise ValueError(f"{root}: no {split}.txt (a COVIDx folder has train.txt, test.txt and train/, test/).")
        tables.append((split, path, read_label_file(path)))
    labels = {label for _, _, table in tables for label in table["class"]}
    allowed = BINARY if labels & set(BINARY) else THREE_CLASS
    paths: list[Path] = []
    for split, path, table in tables:
        check_labels(table["class"], allowed, path)
        listed = [root / split / name for name in table["filename"]]
        check_files(listed, path)
        paths += listed
    every = pd.concat([table for _, _, table in tables], ignore_index=True)
    official = [split == "test" for split, _, table in tables for _ in range(len(table))]
    return make_index(paths, every["class"].tolist(), allowed, every["patient_id"].tolist(), official, root)
