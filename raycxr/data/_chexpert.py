"""CheXpert (Irvin et al., AAAI 2019): 224,316 radiographs of 65,240 patients, 14 labeller observations.

The layout as Stanford ships it (``CheXpert-v1.0`` or the downsampled ``CheXpert-v1.0-small``):
``train.csv`` and ``valid.csv`` with the columns ``Path``, ``Sex``, ``Age``, ``Frontal/Lateral``,
``AP/PA`` and the 14 observations ``No Finding``, ``Enlarged Cardiomediastinum``, ``Cardiomegaly``,
``Lung Opacity``, ``Lung Lesion``, ``Edema``, ``Consolidation``, ``Pneumonia``, ``Atelectasis``,
``Pneumothorax``, ``Pleural Effusion``, ``Pleural Other``, ``Fracture``, ``Support Devices``
(``1.0`` positive, ``0.0`` negative, ``-1.0`` uncertain, blank not mentioned). ``Path`` is
``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``: relative to the folder
holding the dataset folder. ``--data`` may be the dataset folder or that parent; the first
component of ``Path`` is read as the dataset folder, whatever it is called on disk.

Labels: the 13 observations other than ``No Finding`` (as TorchXRayVision: it is no finding
but the absence of the others, and ``Support Devices`` may be positive with it). ``Pleural
Other`` and ``Support Devices`` are kept here; :func:`~raycxr.data._labelspace.to_common`
drops them. Groups are the patient of ``Path`` (``patient00001``). The official test split
is ``valid.csv`` (234 images, labelled by radiologists): CheXpert's real test set (668
studies) is hidden behind the competition's server and not distributed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._checks import check_files, check_labels, make_multilabel_index, read_label_columns, read_table
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing

FILES = ("train.csv", "valid.csv")
#: The 13 observations read as labels, in the CSV's order (``No Finding`` left out).
LABELS = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
)  # fmt: skip
#: The columns the reader uses.
COLUMNS = ("Path", "Frontal/Lateral", *LABELS)
VIEWS = ("Frontal", "Lateral")
_PATIENT = re.compile(r"^patient\d+$")


def _dataset_folder(root: Path) -> Path | None:
    """The folder with ``train.csv`` and ``valid.csv``: ``root`` or its one ``CheXpert-v1.0*`` folder holding them."""
    if all((root / name).is_file() for name in FILES):
        return root
    if not root.is_dir():
        return None
    found = [d for d in sorted(root.glob("CheXpert-v1.0*")) if all((d / name).is_file() for name in FILES)]
    return found[0] if len(found) == 1 else None


def _is_chexpert(root: Path) -> bool:
    folder = _dataset_folder(root)
    if folder is None:
        return False
    with (folder / "train.csv").open() as lines:
        header = lines.readline()
    return header.startswith("Path,") and "Frontal/Lateral" in header


def _patients(relative: pd.Series, path: Path) -> list[str]:
    """The ``patientNNNNN`` component of each ``Path``.

    Raises:
        ValueError: A path without one (counted, the first few named).
    """
    patients = [next((part for part in p.split("/") if _PATIENT.match(part)), "") for p in relative]
    lacking = [p for p, patient in zip(relative, patients) if not patient]
    if lacking:
        raise ValueError(f"{path}: {len(lacking)} Path(s) without a patientNNNNN folder: {listing(lacking)}")
    return patients


@register_dataset(
    "chexpert",
    description="CheXpert v1.0 (Irvin et al. 2019), 13 labeller observations with uncertain labels, multi-label",
    layout="train.csv, valid.csv (Path, Sex, Age, Frontal/Lateral, AP/PA, 14 observations: 1.0/0.0/-1.0/blank); "
    "the images at Path, relative to the folder above the CheXpert folder",
    classes=LABELS,
    groups="patients (patientNNNNN of Path)",
    views=VIEWS,
    official_split="valid.csv (the real test set is hidden)",
    detect=_is_chexpert,
    variants={"frontal": "frontal images only (Frontal/Lateral == Frontal)"},
)
def read_chexpert(root: Path, variant: str | None) -> DatasetIndex:
    """Every image of ``train.csv`` and ``valid.csv`` (``:frontal``: frontal ones); ``valid.csv`` is the official test.

    Raises:
        ValueError: No ``train.csv``/``valid.csv`` at ``root`` or in its CheXpert folder, a missing
            column (named with the file), a label value outside 1.0/0.0/-1.0/blank or a view other
            than Frontal/Lateral (named, counted), a Path without a patient, listed images missing
            on disk.
    """
    folder = _dataset_folder(root)
    if folder is None:
        raise ValueError(
            f"--dataset chexpert: no train.csv and valid.csv in {root} or in one CheXpert-v1.0* folder inside it."
        )
    paths, labels, patients, official = [], [], [], []
    for name in FILES:
        path = folder / name
        table = read_table(path, COLUMNS)
        check_labels(table["Frontal/Lateral"], VIEWS, path)
        if variant == "frontal":
            table = table[table["Frontal/Lateral"] == "Frontal"].reset_index(drop=True)
        labels.append(read_label_columns(table, LABELS, path))
        patients += _patients(table["Path"], path)
        listed = [folder.joinpath(*p.split("/")[1:]) for p in table["Path"]]
        check_files(listed, path)
        paths += listed
        official += [name == "valid.csv"] * len(table)
    return make_multilabel_index(paths, np.concatenate(labels), LABELS, patients, official, root)
