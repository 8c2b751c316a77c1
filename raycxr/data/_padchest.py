"""PadChest (Bustos et al., Medical Image Analysis 2020): 160,868 PNGs of 67,625 patients, report-mined findings.

The layout as BIMCV ships it: ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv`` (or
``.csv.gz``; one row per image: ``ImageID``, ``ImageDir``, ``PatientID``, ``Projection``,
``Labels`` — a Python list of lower-case terms, e.g. ``['pneumonia', 'pleural effusion']``,
``['normal']`` —, the report and DICOM fields …) and the 16-bit PNGs ``<ImageDir>/<ImageID>``
(the zip parts ``0`` … ``54``).

Labels: PadChest reports some 190 terms; the adapter reads the 15 common labels
(:data:`~raycxr.data._labelspace.COMMON_LABELS`) TorchXRayVision's PadChest dataset reads, each
from the exact terms of :data:`TERMS` (case-insensitive, trimmed; TorchXRayVision matches
substrings, which also counts e.g. ``subcutaneous emphysema`` as Emphysema and ``pseudonodule``
as Nodule). A label is 1 when one of its terms is listed, 0 otherwise; an image with a blank
``Labels`` cell is all NaN (not labelled). Other terms are not errors: they are not labels here.
Groups are ``PatientID``. PadChest has no official test split.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from raycxr.data._checks import check_files, check_labels, make_multilabel_index, read_table
from raycxr.data._datasets import register_dataset
from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing

LABELS_FILE = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
COLUMNS = ("ImageID", "ImageDir", "PatientID", "Projection", "Labels")
#: ``Projection``'s values; ``EXCLUDE`` and ``UNK`` mark images PadChest itself could not place.
PROJECTIONS = ("PA", "AP", "AP_horizontal", "L", "COSTAL", "EXCLUDE", "UNK")
FRONTAL = ("PA", "AP", "AP_horizontal")
#: ``{common label: the PadChest terms that assert it}`` (TorchXRayVision's PadChest labels and synonyms).
TERMS = {
    "Atelectasis": ("atelectasis", "laminar atelectasis", "lobar atelectasis", "segmental atelectasis",
                    "round atelectasis", "total atelectasis"),
    "Consolidation": ("consolidation", "air bronchogram"),
    "Infiltration": ("infiltrates", "interstitial pattern", "ground glass pattern", "reticular interstitial pattern",
                     "reticulonodular interstitial pattern", "alveolar pattern", "consolidation", "air bronchogram"),
    "Pneumothorax": ("pneumothorax",),
    "Edema": ("pulmonary edema",),
    "Emphysema": ("emphysema",),
    "Fibrosis": ("pulmonary fibrosis",),
    "Effusion": ("pleural effusion", "loculated pleural effusion", "loculated fissural effusion"),
    "Pneumonia": ("pneumonia", "atypical pneumonia"),
    "Pleural_Thickening": ("pleural thickening", "apical pleural thickening", "calcified pleural thickening"),
    "Cardiomegaly": ("cardiomegaly",),
    "Nodule": ("nodule", "multiple nodules"),
    "Mass": ("mass", "pulmonary mass", "mediastinal mass", "pleural mass"),
    "Hernia": ("hiatal hernia",),
    "Fracture": ("fracture", "rib fracture", "clavicle fracture", "vertebral fracture", "humeral fracture",
                 "callus rib fracture"),
}  # fmt: skip
LABELS = tuple(TERMS)


def _labels_file(root: Path) -> Path:
    packed = root / f"{LABELS_FILE}.gz"
    return packed if packed.is_file() and not (root / LABELS_FILE).is_file() else root / LABELS_FILE


def _is_padchest(root: Path) -> bool:
    return root.is_dir() and _labels_file(root).is_file()


def _parse_terms(cells: list[str], path: Path) -> list[list[str] | None]:
    """Each ``Labels`` cell as its lower-case, trimmed terms; ``None`` for a blank cell.

    Raises:
        ValueError: Cells that are not a Python list of strings (counted, the first few named).
    """
    parsed: list[list[str] | None] = []
    bad = []
    for cell in cells:
        if not cell.strip():
            parsed.append(None)
            continue
        try:
            terms = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            terms = None
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            bad.append(repr(cell))
            terms = []
        parsed.append([t.strip().lower() for t in terms])
    if bad:
        raise ValueError(
            f"{path}: column 'Labels': {len(bad)} row(s) not a list of terms like \"['pneumonia', 'normal']\": "
            f"{listing(bad)}"
        )
    return parsed


@register_dataset(
    "padchest",
    description="PadChest (Bustos et al. 2020), 15 report-mined findings in the common label space, multi-label",
    layout=f"{LABELS_FILE}(.gz) (ImageID, ImageDir, PatientID, Projection, Labels as a list of terms, …); "
    "<ImageDir>/<ImageID> (16-bit PNG)",
    classes=LABELS,
    groups="patients (PatientID)",
    views=PROJECTIONS[:5],
    official_split="",
    detect=_is_padchest,
    variants={"frontal": "frontal images only (Projection PA, AP or AP_horizontal)"},
)
def read_padchest(root: Path, variant: str | None) -> DatasetIndex:
    """Every image of the labels file (``:frontal``: the frontal projections), its 15 findings as 1/0 columns.

    Raises:
        ValueError: No labels file or a missing column (named), a ``Projection`` outside the
            documented values (named, counted), a ``Labels`` cell that is not a list of terms,
            listed images missing on disk.
    """
    path = _labels_file(root)
    if not root.is_dir() or not path.is_file():
        raise ValueError(f"--dataset padchest: no {path} (or {path.name}.gz), PadChest's image list.")
    table = read_table(path, COLUMNS)
    check_labels(table["Projection"], PROJECTIONS, path)
    if variant == "frontal":
        table = table[table["Projection"].isin(FRONTAL)].reset_index(drop=True)
    labels = np.full((len(table), len(LABELS)), np.nan, dtype=np.float32)
    for i, terms in enumerate(_parse_terms(table["Labels"].tolist(), path)):
        if terms is not None:
            labels[i] = [float(any(t in terms for t in TERMS[name])) for name in LABELS]
    paths = [root / folder.strip() / image.strip() for folder, image in zip(table["ImageDir"], table["ImageID"])]
    check_files(paths, path)
    return make_multilabel_index(paths, labels, LABELS, table["PatientID"].tolist(), None, root)
