"""MIMIC-CXR-JPG v2.0.0 (Johnson et al. 2019, PhysioNet): 377,110 JPEGs of 65,379 patients, CheXpert labels.

The layout as PhysioNet ships it (each table ``.csv.gz``, or unpacked ``.csv``):
``mimic-cxr-2.0.0-metadata.csv`` (one row per image: ``dicom_id``, ``subject_id``, ``study_id``,
``ViewPosition``, …), ``mimic-cxr-2.0.0-chexpert.csv`` (one row per study: ``subject_id``,
``study_id`` and the CheXpert labeller's 14 observations, ``1.0`` / ``0.0`` / ``-1.0`` / blank),
``mimic-cxr-2.0.0-split.csv`` (``dicom_id``, ``study_id``, ``subject_id``, ``split`` in
train / validate / test) and the images ``files/p10/p10000032/s50414267/<dicom_id>.jpg``
(``p`` + the first two digits of the subject, ``p<subject_id>``, ``s<study_id>``).

Labels: the 13 observations of :mod:`raycxr.data._chexpert`, in CheXpert's order (not the
file's alphabetical one), every image taking its study's labels; a study without a row in
the labels file is all NaN (not labelled). Groups are ``subject_id``. The official test
split is ``split == test``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._checks import check_files, check_labels, make_multilabel_index, read_label_columns, read_table
from raycxr.data._chexpert import LABELS as CHEXPERT_LABELS
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing

PREFIX = "mimic-cxr-2.0.0-"
METADATA = ("dicom_id", "subject_id", "study_id", "ViewPosition")
SPLIT = ("dicom_id", "study_id", "subject_id", "split")
SPLITS = ("train", "validate", "test")
#: The labeller's observations read as labels (``No Finding`` left out), in CheXpert's order.
LABELS = CHEXPERT_LABELS
FRONTAL = ("PA", "AP")


def _table(root: Path, name: str) -> Path:
    """``root/mimic-cxr-2.0.0-<name>.csv.gz``, or the unpacked ``.csv`` when only that is there."""
    packed = root / f"{PREFIX}{name}.csv.gz"
    return packed if packed.is_file() or not (root / f"{PREFIX}{name}.csv").is_file() else root / f"{PREFIX}{name}.csv"


def _is_mimic(root: Path) -> bool:
    return root.is_dir() and _table(root, "metadata").is_file()


def _study_keys(table: pd.DataFrame, path: Path) -> list[tuple[str, str]]:
    """``(subject_id, study_id)`` of each row of the labels file, which names each study once.

    Raises:
        ValueError: A study with several rows (named).
    """
    keys = list(zip(table["subject_id"], table["study_id"]))
    twice = table.loc[table.duplicated(["subject_id", "study_id"]), "study_id"].tolist()
    if twice:
        raise ValueError(f"{path}: {len(twice)} study(ies) with more than one row: {listing(twice)}")
    return keys


@register_dataset(
    "mimic-cxr-jpg",
    description="MIMIC-CXR-JPG v2.0.0 (Johnson et al. 2019), CheXpert-labeller observations, multi-label",
    layout=f"{PREFIX}metadata.csv(.gz) (dicom_id, subject_id, study_id, ViewPosition), {PREFIX}chexpert.csv(.gz), "
    f"{PREFIX}split.csv(.gz); files/pNN/p<subject_id>/s<study_id>/<dicom_id>.jpg",
    classes=LABELS,
    groups="patients (subject_id)",
    views=("PA", "AP", "LATERAL", "LL"),
    official_split=f"{PREFIX}split.csv: split == test",
    detect=_is_mimic,
    variants={"frontal": "frontal images only (ViewPosition PA or AP)"},
)
def read_mimic(root: Path, variant: str | None) -> DatasetIndex:
    """Every image of the metadata file (``:frontal``: ViewPosition PA/AP), with its study's labels.

    Raises:
        ValueError: A missing table or column (named with the file), a label value outside
            1.0/0.0/-1.0/blank or a split outside train/validate/test (named, counted), a study
            labelled twice, an image without a split, listed images missing on disk.
    """
    metadata_path, labels_path, split_path = (_table(root, name) for name in ("metadata", "chexpert", "split"))
    for path in (metadata_path, labels_path, split_path):
        if not path.is_file():
            raise ValueError(f"--dataset mimic-cxr-jpg: no {path} (or {path.with_suffix('')}).")
    metadata = read_table(metadata_path, METADATA)
    if variant == "frontal":
        metadata = metadata[metadata["ViewPosition"].isin(FRONTAL)].reset_index(drop=True)
    studies = read_table(labels_path, ("subject_id", "study_id", *LABELS))
    study_labels = read_label_columns(studies, LABELS, labels_path)
    row_of = {key: i for i, key in enumerate(_study_keys(studies, labels_path))}
    unlabelled = np.full(len(LABELS), np.nan, dtype=np.float32)
    labels = np.array(
        [study_labels[row_of[key]] if key in row_of else unlabelled
         for key in zip(metadata["subject_id"], metadata["study_id"])],
        dtype=np.float32,
    ).reshape(len(metadata), len(LABELS))  # fmt: skip
    splits = read_table(split_path, SPLIT)
    check_labels(splits["split"], SPLITS, split_path)
    split_of = dict(zip(splits["dicom_id"], splits["split"]))
    unsplit = [d for d in metadata["dicom_id"] if d not in split_of]
    if unsplit:
        raise ValueError(
            f"{split_path}: no split for {len(unsplit)} image(s) of {metadata_path.name}: {listing(unsplit)}"
        )
    paths = [
        root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"
        for dicom, subject, study in zip(metadata["dicom_id"], metadata["subject_id"], metadata["study_id"])
    ]
    check_files(paths, metadata_path)
    official = [split_of[d] == "test" for d in metadata["dicom_id"]]
    return make_multilabel_index(paths, labels, LABELS, metadata["subject_id"].tolist(), official, root)
