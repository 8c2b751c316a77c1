"""Small replicas of public datasets in their own layouts (file names, columns, label values), real images on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

RNG = np.random.default_rng(0)


def png(path: Path) -> None:
    """A small random grayscale PNG at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(path)


def _dicom(path: Path, view: str) -> None:
    """A small CR radiograph as the RSNA challenge ships them (MONOCHROME2, 8 bits, ViewPosition)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.ViewPosition, ds.PatientID = "CR", view, path.stem
    ds.set_pixel_data(RNG.integers(0, 256, (32, 32), dtype=np.uint8), "MONOCHROME2", 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def covidx_replica(root: Path, labels: tuple[str, ...] = ("negative", "positive"), patients: int = 8) -> Path:
    """COVIDx CXR-4: ``train.txt``/``val.txt``/``test.txt`` (patient_id filename class data_source), images
    in ``train/``, ``val/``, ``test/``; two images per patient, classes alternating by patient."""
    sources = ("bimcv", "ricord", "rsna", "sirm")
    for split, first, count in (("train", 0, patients), ("val", patients, 2), ("test", patients + 2, 4)):
        lines = []
        for p in range(first, first + count):
            for k in range(2):
                name = f"{split}-{p}-{k}.png"
                png(root / split / name)
                lines.append(f"P{p} {name} {labels[p % len(labels)]} {sources[p % 4]}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def rsna_replica(root: Path, detailed: bool = True) -> Path:
    """RSNA Pneumonia stage 2: the labels CSV (one row per box), the detailed class CSV and DICOMs."""
    rows = ["patientId,x,y,width,height,Target"]
    details = ["patientId,class"]
    cases = [
        ("0004cfab", [], "No Lung Opacity / Not Normal"),
        ("00313ee0", [], "Normal"),
        ("00436515", [(1, 2, 3, 4), (5, 6, 7, 8)], "Lung Opacity"),  # two boxes, two rows
        ("00569f44", [], "Normal"),
        ("00704310", [(9, 9, 9, 9)], "Lung Opacity"),
        ("00aecb01", [], "No Lung Opacity / Not Normal"),
    ]
    for i, (patient, boxes, detail) in enumerate(cases):
        for box in boxes or [("", "", "", "")]:
            rows.append(",".join([patient, *map(str, box), "1" if boxes else "0"]))
            details.append(f"{patient},{detail}")
        _dicom(root / "stage_2_train_images" / f"{patient}.dcm", "PA" if i % 2 else "AP")
    (root / "stage_2_train_labels.csv").write_text("\n".join(rows) + "\n")
    if detailed:
        (root / "stage_2_detailed_class_info.csv").write_text("\n".join(details) + "\n")
    return root
