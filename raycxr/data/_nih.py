"""NIH ChestX-ray14 (Wang et al., CVPR 2017): 112,120 frontal PNGs of 30,805 patients, 14 findings.

The layout as the NIH Box release and its Kaggle copy ship it: ``Data_Entry_2017.csv`` (one row
per image: ``Image Index``, ``Finding Labels`` — findings joined by ``|``, or ``No Finding`` —,
``Follow-up #``, ``Patient ID``, ``Patient Age``, ``Patient Gender``, ``View Position`` (PA/AP),
the original size and pixel spacing), the images in ``images/`` (Box) or in ``images_001/images/``
… ``images_012/images/`` (Kaggle), and the official patient-wise split ``train_val_list.txt`` /
``test_list.txt`` (one image name a line).

Labels are multi-label (:mod:`raycxr.data._labels`): 1 for a listed finding, 0 for every other
(the text-mined labels have no uncertain or unmentioned value). Groups are ``Patient ID``.
Without ``test_list.txt`` the index has no official test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from raycxr.data._checks import check_files, check_labels, make_multilabel_index, read_table
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex

ENTRY_FILE = "Data_Entry_2017.csv"
#: The columns of ``Data_Entry_2017.csv`` the reader uses.
COLUMNS = ("Image Index", "Finding Labels", "Patient ID", "View Position")
TEST_LIST = "test_list.txt"
NO_FINDING = "No Finding"
#: The 14 findings, in the order of the dataset paper.
LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip


def _is_nih(root: Path) -> bool:
    return root.is_dir() and (root / ENTRY_FILE).is_file()


def _image_paths(root: Path, names: list[str]) -> list[Path]:
    """Each image's path: ``images/<name>``, or where the Kaggle release's ``images_NNN/images/`` folders hold it."""
    if (root / "images").is_dir():
        return [root / "images" / name for name in names]
    found = {p.name: p for p in root.glob("images_*/images/*.png")}
    return [found.get(name, root / "images" / name) for name in names]


@register_dataset(
    "nih",
    description="NIH ChestX-ray14 (Wang et al. 2017), 14 text-mined findings, multi-label",
    layout=f"{ENTRY_FILE} (Image Index, Finding Labels, Patient ID, View Position, …); images/*.png or "
    "images_NNN/images/*.png; train_val_list.txt, test_list.txt",
    classes=LABELS,
    groups="patients (Patient ID)",
    views=("PA", "AP"),
    official_split=TEST_LIST,
    detect=_is_nih,
)
def read_nih(root: Path, variant: str | None) -> DatasetIndex:
    """Every image of ``Data_Entry_2017.csv``, its 14 findings as 1/0 columns; ``test_list.txt`` is the official test.

    Raises:
        ValueError: No ``Data_Entry_2017.csv`` or a missing column (named), a finding outside
            the 14 and ``No Finding`` (named, counted), listed images missing on disk.
    """
    path = root / ENTRY_FILE
    if not root.is_dir() or not path.is_file():
        raise ValueError(f"--dataset nih: no {path} (NIH ChestX-ray14's image list).")
    table = read_table(path, COLUMNS)
    findings = [[f.strip() for f in cell.split("|")] for cell in table["Finding Labels"]]
    check_labels([f for row in findings for f in row], (*LABELS, NO_FINDING), path, unit="finding(s)")
    labels = np.array([[float(name in row) for name in LABELS] for row in findings], dtype=np.float32)
    names = table["Image Index"].str.strip().tolist()
    paths = _image_paths(root, names)
    check_files(paths, path)
    official = None
    if (root / TEST_LIST).is_file():
        test = set((root / TEST_LIST).read_text().split())
        official = [name in test for name in names]
    return make_multilabel_index(paths, labels, LABELS, table["Patient ID"].tolist(), official, root)
