"""Small replicas of public datasets in their own layouts (file names, columns, label values), real images on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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


def jpg(path: Path) -> None:
    """A small random grayscale JPEG at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(path, format="JPEG")


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A CSV as pandas writes one (cells with commas or quotes quoted); ``.gz`` compressed by its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=header, dtype=object).to_csv(path, index=False)


#: The 14 findings of NIH ChestX-ray14, in Data_Entry_2017.csv's spelling.
NIH_FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip


def nih_finding_labels(j: int) -> str:
    """``Finding Labels`` of the replica's ``j``-th image: ``No Finding`` every fourth, else two findings."""
    if j % 4 == 3:
        return "No Finding"
    return "|".join(dict.fromkeys((NIH_FINDINGS[j % 14], NIH_FINDINGS[(3 * j + 1) % 14])))


def nih_replica(root: Path, patients: int = 6, kaggle: bool = False, test_patients: int = 2) -> Path:
    """NIH ChestX-ray14: ``Data_Entry_2017.csv`` (its 11 columns and trailing comma), three PNGs per patient in
    ``images/`` (``kaggle``: alternately in ``images_001/images/`` and ``images_002/images/``), and the official
    ``train_val_list.txt`` / ``test_list.txt``: the last ``test_patients`` patients are the test patients."""
    header = (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    )
    lines, train, test = [header], [], []
    for p in range(1, patients + 1):
        for k in range(3):
            j = 3 * (p - 1) + k
            name = f"{p:08d}_{k:03d}.png"
            png(root / (f"images_{1 + j % 2:03d}/images" if kaggle else "images") / name)
            view = "AP" if j % 3 == 2 else "PA"
            lines.append(f"{name},{nih_finding_labels(j)},{k},{p},{40 + p},{'MF'[p % 2]},{view},2500,2048,0.168,0.168,")
            (test if p > patients - test_patients else train).append(name)
    (root / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(train) + "\n")
    (root / "test_list.txt").write_text("\n".join(test) + "\n")
    return root


#: CheXpert's 14 observations, in train.csv's order.
CHEXPERT_OBSERVATIONS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)  # fmt: skip


def chexpert_cell(row: int, column: int, valid: bool = False) -> str:
    """The replica's label cell: 1.0 / 0.0 / -1.0 / blank in turn (valid.csv: 1.0 / 0.0, as the real one)."""
    return ("1.0", "0.0")[(row + column) % 2] if valid else ("1.0", "0.0", "-1.0", "")[(row + column) % 4]


def chexpert_replica(root: Path, patients: int = 4, folder: str = "CheXpert-v1.0-small") -> Path:
    """CheXpert: ``<root>/<folder>/train.csv`` and ``valid.csv`` (Path, Sex, Age, Frontal/Lateral, AP/PA, the 14
    observations) and JPEGs at ``Path`` relative to ``root``; per patient two studies, a frontal and a lateral view
    each. Train patients are ``patient00001`` …, valid ones ``patient64541`` … (two of them). Returns ``root``."""
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_OBSERVATIONS]
    for split, first, count in (("train", 1, patients), ("valid", 64541, 2)):
        rows: list[list[object]] = []
        for p in range(first, first + count):
            for study in (1, 2):
                for view, kind in ((1, "frontal"), (2, "lateral")):
                    relative = f"{folder}/{split}/patient{p:05d}/study{study}/view{view}_{kind}.jpg"
                    jpg(root / relative)
                    r = len(rows)
                    cells = [chexpert_cell(r, c, split == "valid") for c in range(1, len(CHEXPERT_OBSERVATIONS))]
                    ap_pa = ("AP", "PA")[r % 2] if kind == "frontal" else ""
                    no_finding = "1.0" if "1.0" not in cells else ""
                    rows.append([relative, "Female", 50 + p % 30, kind.title(), ap_pa, no_finding, *cells])
        _csv(root / folder / f"{split}.csv", header, rows)
    return root


#: MIMIC-CXR-JPG's chexpert.csv label columns (alphabetical, as PhysioNet ships them).
MIMIC_OBSERVATIONS = tuple(sorted(CHEXPERT_OBSERVATIONS))
MIMIC_SUBJECTS = ("10000032", "10000764", "11000011", "12000022")


def mimic_replica(root: Path, packed: bool = True) -> Path:
    """MIMIC-CXR-JPG 2.0.0: the metadata, chexpert and split tables (``.csv.gz`` when ``packed``) and
    ``files/pNN/p<subject>/s<study>/<dicom_id>.jpg``; four subjects of two studies of a PA and a LATERAL image
    each. The last study has no labels row; subject 11000011 is the validate split, 12000022 the test split."""
    suffix = ".csv.gz" if packed else ".csv"
    metadata, labels, split = [], [], []
    for s, subject in enumerate(MIMIC_SUBJECTS):
        for t in range(2):
            study = f"5{s}00000{t}"
            if (s, t) != (len(MIMIC_SUBJECTS) - 1, 1):
                r = len(labels)
                labels.append([subject, study, *(chexpert_cell(r, c) for c in range(len(MIMIC_OBSERVATIONS)))])
            for view in ("PA", "LATERAL"):
                dicom = f"{s:02x}{t}{view[0].lower()}0e4b-bde0afdd-112c0b34-7bc16630-4e384014"
                jpg(root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg")
                metadata.append([dicom, subject, study, "CHEST (PA AND LAT)", view, 32, 32, 21800506, 213014.531])
                part = {"11000011": "validate", "12000022": "test"}.get(subject, "train")
                split.append([dicom, study, subject, part])
    prefix = root / "mimic-cxr-2.0.0-"
    metadata_header = [
        "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
        "Columns", "StudyDate", "StudyTime",
    ]  # fmt: skip
    _csv(Path(f"{prefix}metadata{suffix}"), metadata_header, metadata)
    _csv(Path(f"{prefix}chexpert{suffix}"), ["subject_id", "study_id", *MIMIC_OBSERVATIONS], labels)
    _csv(Path(f"{prefix}split{suffix}"), ["dicom_id", "study_id", "subject_id", "split"], split)
    return root


#: The replica's ``Labels`` cells in turn: every common PadChest label positive somewhere, a blank (unlabelled)
#: cell, a term with PadChest's stray leading space, and terms that merely contain a label's name.
PADCHEST_TERMS = (
    "['normal']",
    "['pneumonia', 'atelectasis']",
    "['pleural effusion', 'cardiomegaly']",
    "['consolidation', ' air bronchogram']",
    "['pneumothorax', 'emphysema']",
    "['pulmonary edema', 'pulmonary fibrosis']",
    "['apical pleural thickening', 'nodule']",
    "['pulmonary mass', 'hiatal hernia']",
    "['rib fracture', 'interstitial pattern']",
    "['subcutaneous emphysema', 'pseudonodule']",
    "",
)


def padchest_replica(root: Path, patients: int = 6) -> Path:
    """PadChest: ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv`` (its leading columns, Projection and
    Labels among them) and PNGs in ``<ImageDir>/<ImageID>`` (folders ``0`` and ``1``); two studies of a PA and
    a lateral (``L``) image per patient; ``Labels`` from :data:`PADCHEST_TERMS` in turn."""
    header = [
        "ImageID", "ImageDir", "StudyDate_DICOM", "StudyID", "PatientID", "PatientBirth", "PatientSex_DICOM",
        "ViewPosition_DICOM", "Projection", "MethodProjection", "Pediatric", "Report", "MethodLabel", "Labels",
    ]  # fmt: skip
    rows: list[list[object]] = []
    for p in range(patients):
        patient = f"{p}9{p}2{p}84{p}1{p}".ljust(38, "7")
        for study in range(2):
            for view in ("PA", "L"):
                image = f"2168401113{p}{study}{view}_00-0{p}{study}-17{len(rows) % 10}.png"
                folder = str(len(rows) % 2)
                png(root / folder / image)
                terms = PADCHEST_TERMS[len(rows) % len(PADCHEST_TERMS)]
                rows.append([
                    image, folder, 20090331, f"s{p}{study}", patient, 1945, "F", "POSTEROANTERIOR" if view == "PA"
                    else "LATERAL", view, "Manual review of DICOM fields", "No", "report text", "Physician", terms,
                ])  # fmt: skip
    _csv(root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv", header, rows)
    return root
