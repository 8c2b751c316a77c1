"""RSNA Pneumonia Detection Challenge (Kaggle 2018; images from NIH ChestX-ray14), stage 2 training set.

The layout as Kaggle ships it: ``stage_2_train_labels.csv`` (``patientId,x,y,width,height,Target``:
one row per box, so several rows for an image with several opacities, one row with empty box
columns for an image without; ``Target`` 0 or 1), ``stage_2_detailed_class_info.csv``
(``patientId,class``, one row per row of the labels file) and the DICOM images
``stage_2_train_images/<patientId>.dcm``. Despite its name a ``patientId`` names one image:
the challenge publishes no patient identity, so a group split is an image split here.

Labels: ``Target`` as ``No Opacity`` / ``Opacity`` (the challenge's task), or with
``--dataset rsna-pneumonia:detailed`` the three classes of the detailed class file. The
stage 2 test images have no published labels: there is no official test split.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from raycxr.data._checks import check_files, check_labels, make_index, read_table
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing

LABELS_FILE = "stage_2_train_labels.csv"
LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
DETAILS_FILE = "stage_2_detailed_class_info.csv"
DETAIL_COLUMNS = ("patientId", "class")
IMAGES_DIR = "stage_2_train_images"
#: ``Target`` 0 and 1 as class names (the default label set).
TARGET_CLASSES = ("No Opacity", "Opacity")
#: The classes of ``stage_2_detailed_class_info.csv`` (variant ``detailed``).
DETAILED_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")


def _is_rsna(root: Path) -> bool:
    return root.is_dir() and (root / LABELS_FILE).is_file()


def _one_per_image(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """``column``'s value of each ``patientId``, which all of its rows must agree on.

    Raises:
        ValueError: An image whose rows disagree (named).
    """
    values = table.groupby("patientId", sort=False)[column]
    conflicting = values.nunique()
    conflicting = conflicting[conflicting > 1].index.tolist()
    if conflicting:
        raise ValueError(f"{path}: {len(conflicting)} image(s) with rows of different {column}: {listing(conflicting)}")
    return values.first()


def _detailed(root: Path, targets: pd.Series) -> pd.Series:
    """The detailed class of each image of ``targets`` (which must agree: ``Lung Opacity`` ⇔ Target 1)."""
    path = root / DETAILS_FILE
    if not path.is_file():
        raise ValueError(f"--dataset rsna-pneumonia:detailed needs {path} (columns {','.join(DETAIL_COLUMNS)}).")
    table = read_table(path, DETAIL_COLUMNS)
    check_labels(table["class"], DETAILED_CLASSES, path)
    classes = _one_per_image(table, "class", path)
    missing = [p for p in targets.index if p not in classes.index]
    if missing:
        raise ValueError(f"{path}: no class for {len(missing)} image(s) of {LABELS_FILE}: {listing(missing)}")
    classes = classes.loc[targets.index]
    disagree = targets.index[(classes == "Lung Opacity") != (targets == "1")].tolist()
    if disagree:
        raise ValueError(
            f"{path}: {len(disagree)} image(s) whose class disagrees with Target in {LABELS_FILE} "
            f"('Lung Opacity' is Target 1): {listing(disagree)}"
        )
    return classes


@register_dataset(
    "rsna-pneumonia",
    description="RSNA Pneumonia Detection Challenge 2018, stage 2 training images (DICOM)",
    layout=f"{LABELS_FILE} (patientId,x,y,width,height,Target), optional {DETAILS_FILE} (patientId,class); "
    f"{IMAGES_DIR}/<patientId>.dcm",
    classes=TARGET_CLASSES,
    groups="one per image (patientId names an image, not a patient)",
    views=("PA", "AP"),
    official_split="",
    detect=_is_rsna,
    variants={"detailed": f"the three classes of {DETAILS_FILE}: {', '.join(DETAILED_CLASSES)}"},
)
def read_rsna(root: Path, variant: str | None) -> DatasetIndex:
    """Every image of ``stage_2_train_labels.csv``, labelled by its Target (or, ``detailed``, its class).

    Raises:
        ValueError: A missing file or column (named), a Target other than 0/1 or a class outside
            the documented three (named, counted), an image whose rows disagree, listed images
            missing on disk.
    """
    path = root / LABELS_FILE
    if not root.is_dir() or not path.is_file():
        raise ValueError(f"--dataset rsna-pneumonia: no {path} (the RSNA challenge's stage 2 training labels).")
    table = read_table(path, LABEL_COLUMNS)
    check_labels(table["Target"], ("0", "1"), path)
    targets = _one_per_image(table, "Target", path)
    if variant == "detailed":
        labels, classes = _detailed(root, targets).tolist(), DETAILED_CLASSES
    else:
        labels, classes = [TARGET_CLASSES[int(t)] for t in targets], TARGET_CLASSES
    paths = [root / IMAGES_DIR / f"{patient}.dcm" for patient in targets.index]
    check_files(paths, path)
    return make_index(paths, labels, classes, list(targets.index), None, root)
