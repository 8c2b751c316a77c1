"""One label space for the multi-label datasets: TorchXRayVision's 18 default pathologies.

Each multi-label adapter keeps its own label names (what its files say); :data:`LABEL_MAPS`
says, per dataset, which of them is which common label, and :func:`to_common` re-expresses an
index in the common space, so that two datasets' labels line up column for column (training
on one and testing on another, or pooling them). A common label the dataset does not report
is a NaN column ("not mentioned"), never a negative one.

Dataset labels with no common counterpart are dropped by :func:`to_common`: CheXpert's and
MIMIC-CXR's ``Pleural Other`` and ``Support Devices`` (TorchXRayVision drops them the same way
when it relabels to its default pathologies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from raycxr.data._index import DatasetIndex

#: TorchXRayVision's ``default_pathologies``, in its order.
COMMON_LABELS = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis",
    "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia",
    "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum",
)  # fmt: skip

#: The CheXpert labeller's observations that have a common counterpart (MIMIC-CXR uses the same labeller).
_CHEXPERT_TO_COMMON = MappingProxyType({
    "Enlarged Cardiomediastinum": "Enlarged Cardiomediastinum", "Cardiomegaly": "Cardiomegaly",
    "Lung Opacity": "Lung Opacity", "Lung Lesion": "Lung Lesion", "Edema": "Edema",
    "Consolidation": "Consolidation", "Pneumonia": "Pneumonia", "Atelectasis": "Atelectasis",
    "Pneumothorax": "Pneumothorax", "Pleural Effusion": "Effusion", "Fracture": "Fracture",
})  # fmt: skip

#: ``{dataset: {its label: common label}}`` for every multi-label adapter.
LABEL_MAPS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    # NIH ChestX-ray14's 14 findings are the first 14 common labels, spelled the same.
    "nih": MappingProxyType({name: name for name in (
        "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
        "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
    )}),
    "chexpert": _CHEXPERT_TO_COMMON,
    "mimic-cxr-jpg": _CHEXPERT_TO_COMMON,
    # The PadChest adapter names its labels in the common space already (see raycxr.data._padchest).
    "padchest": MappingProxyType({name: name for name in (
        "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis",
        "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Fracture",
    )}),
})  # fmt: skip


def shared_labels(a_classes: Sequence[str], b_classes: Sequence[str]) -> tuple[str, ...]:
    """The labels both label spaces have, in ``a_classes``' order (what a model trained on one is scored on)."""
    b = set(b_classes)
    return tuple(name for name in a_classes if name in b)


def _combine(columns: np.ndarray) -> np.ndarray:
    """Several dataset labels mapped to one: positive if any is, else uncertain, else negative, else NaN."""
    combined = np.full(columns.shape[0], np.nan, dtype=np.float32)
    for value in (0.0, -1.0, 1.0):  # later wins
        combined[(columns == value).any(axis=1)] = value
    return combined


def to_common(
    index: DatasetIndex, label_map: Mapping[str, str] | str, labels: Sequence[str] = COMMON_LABELS
) -> DatasetIndex:
    """``index`` with its labels re-expressed in the common label space ``labels``.

    Args:
        index: A multi-label index.
        label_map: ``{index label: common label}``, or a dataset name of :data:`LABEL_MAPS`.
            Index labels it does not name are dropped. Several index labels may map to one
            common label (positive if any is positive, else uncertain, else negative, else NaN).
        labels: The target label space (default :data:`COMMON_LABELS`); labels the dataset
            does not report become NaN columns.

    Returns:
        The same images, groups and official split with ``classes == tuple(labels)``.

    Raises:
        ValueError: A single-label index, an unknown dataset name, or a map naming a label the
            index does not have or a common label outside ``labels`` (named).
    """
    if not index.multilabel:
        raise ValueError(f"to_common needs a multi-label index; this one has single-label classes {index.classes}.")
    if isinstance(label_map, str):
        if label_map not in LABEL_MAPS:
            raise ValueError(f"no common-label map for dataset {label_map!r}; maps exist for {', '.join(LABEL_MAPS)}.")
        label_map = LABEL_MAPS[label_map]
    unknown = [name for name in label_map if name not in index.classes]
    if unknown:
        raise ValueError(f"label map names {unknown}, not label(s) of the index (labels: {', '.join(index.classes)}).")
    outside = [target for target in label_map.values() if target not in labels]
    if outside:
        raise ValueError(f"label map targets {outside}, not in the common label space ({', '.join(labels)}).")
    common = np.full((len(index), len(labels)), np.nan, dtype=np.float32)
    for j, target in enumerate(labels):
        sources = [index.classes.index(name) for name, mapped in label_map.items() if mapped == target]
        if sources:
            common[:, j] = _combine(index.labels[:, sources])
    return DatasetIndex(
        paths=index.paths,
        labels=common,
        classes=tuple(labels),
        groups=index.groups,
        absent=index.absent,
        official_test=index.official_test,
    )
