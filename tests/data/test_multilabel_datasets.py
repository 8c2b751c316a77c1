"""Multi-label datasets: the (N, L) DatasetIndex, uncertain labels, the common label space and the NIH,
CheXpert, MIMIC-CXR-JPG and PadChest adapters on small replicas in their own layouts."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycxr.data import (
    COMMON_LABELS,
    DATASETS,
    LABEL_MAPS,
    DatasetIndex,
    apply_uncertain,
    detect_dataset,
    read_dataset,
    read_image,
    shared_labels,
    to_common,
)
from tests.data.replicas import (
    chexpert_replica,
    mimic_replica,
    nih_finding_labels,
    nih_replica,
    padchest_replica,
)

NAN = np.nan
NIH = DATASETS["nih"].classes
CHEXPERT = DATASETS["chexpert"].classes


def _index(labels: list[list[float]], classes: tuple[str, ...] = ("a", "b", "c")) -> DatasetIndex:
    n = len(labels)
    return DatasetIndex(
        paths=tuple(Path(f"/x/{i}.png") for i in range(n)),
        labels=np.array(labels, dtype=np.float32),
        classes=classes,
        groups=np.array([f"p{i // 2}" for i in range(n)], dtype=object),
        official_test=np.arange(n) >= n - 1,
    )


def _row(index: DatasetIndex, path: Path) -> dict[str, float]:
    labels = index.labels[index.paths.index(path.resolve())]
    return dict(zip(index.classes, labels.tolist()))


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)


def _error(root: Path, name: str = "auto") -> str:
    with pytest.raises(ValueError) as info:
        read_dataset(root, name)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- DatasetIndex ------------------------------------------------------------------------------------------


def test_a_multilabel_index_counts_positives_and_subsets_rows() -> None:
    index = _index([[1, 0, NAN], [1, -1, 0], [0, 1, NAN], [NAN, NAN, NAN]])
    assert index.multilabel and index.labels.shape == (4, 3)
    assert index.class_counts.tolist() == [2, 1, 0] and index.class_counts.dtype == np.int64
    part = index.subset(np.array([False, True, False, True]))
    assert part.multilabel and part.paths == (Path("/x/1.png"), Path("/x/3.png"))
    np.testing.assert_array_equal(part.labels, np.array([[1, -1, 0], [NAN, NAN, NAN]], dtype=np.float32))
    assert part.groups.tolist() == ["p0", "p1"] and part.official_test.tolist() == [False, True]
    assert index.subset(np.array([2, 0])).labels[:, 0].tolist() == [0, 1]


def test_a_multilabel_index_refuses_bad_shapes_and_values() -> None:
    with pytest.raises(ValueError, match=r"labels have 2 column\(s\) but there are 3 label names"):
        _index([[1, 0], [0, 1]])
    with pytest.raises(
        ValueError,
        match=r"label value 2\.0 \(row 1, label 'b'; 2 such value\(s\)\) is not one of 1 \(positive\), 0 \(negative\), "
        r"-1 \(uncertain\), NaN \(not mentioned\)",
    ):
        _index([[1, 0, 0], [0, 2, 0.5]])
    with pytest.raises(ValueError, match="multi-label labels must be float"):
        DatasetIndex(paths=(Path("/a.png"),), labels=np.ones((1, 2), dtype=np.int64), classes=("a", "b"))
    with pytest.raises(ValueError, match=r"not \(1, 2, 2\)"):
        DatasetIndex(paths=(Path("/a.png"),), labels=np.ones((1, 2, 2), dtype=np.float32), classes=("a", "b"))


def test_a_single_label_index_is_unchanged() -> None:
    index = DatasetIndex(
        paths=tuple(Path(f"/{i}.png") for i in range(4)), labels=np.array([0, 2, 2, 0]), classes=tuple("abc")
    )
    assert not index.multilabel
    assert index.class_counts.tolist() == [2, 0, 2]
    assert index.subset(np.array([1, 2])).labels.tolist() == [2, 2]


def test_apply_uncertain() -> None:
    labels = np.array([[1, 0, -1, NAN], [-1, -1, 0, 1]], dtype=np.float32)
    kept = labels.copy()
    np.testing.assert_array_equal(apply_uncertain(labels, "zeros"), [[1, 0, 0, NAN], [0, 0, 0, 1]])
    np.testing.assert_array_equal(apply_uncertain(labels, "ones"), [[1, 0, 1, NAN], [1, 1, 0, 1]])
    np.testing.assert_array_equal(apply_uncertain(labels, "ignore"), [[1, 0, NAN, NAN], [NAN, NAN, 0, 1]])
    assert apply_uncertain(labels, "ones").dtype == np.float32
    np.testing.assert_array_equal(labels, kept)  # a copy
    with pytest.raises(ValueError, match=r"uncertain-label policy 'U-Ones' is not one of ignore, zeros, ones\."):
        apply_uncertain(labels, "U-Ones")


# --- the common label space --------------------------------------------------------------------------------


def test_to_common_lines_datasets_up(tmp_path: Path) -> None:
    chexpert = read_dataset(chexpert_replica(tmp_path / "chexpert"))
    common = to_common(chexpert, "chexpert")
    assert common.classes == COMMON_LABELS and common.labels.shape == (len(chexpert), 18)
    assert common.paths == chexpert.paths and common.groups is chexpert.groups
    assert common.official_test is chexpert.official_test
    column = {name: j for j, name in enumerate(COMMON_LABELS)}
    np.testing.assert_array_equal(
        common.labels[:, column["Effusion"]], chexpert.labels[:, CHEXPERT.index("Pleural Effusion")]
    )
    np.testing.assert_array_equal(common.labels[:, column["Edema"]], chexpert.labels[:, CHEXPERT.index("Edema")])
    for missing in ("Infiltration", "Emphysema", "Fibrosis", "Pleural_Thickening", "Nodule", "Mass", "Hernia"):
        assert np.isnan(common.labels[:, column[missing]]).all()  # not reported: NaN, never negative
    nih = to_common(read_dataset(nih_replica(tmp_path / "nih")), "nih")
    assert np.isnan(nih.labels[:, column["Lung Opacity"]]).all() and not np.isnan(nih.labels[:, :14]).any()
    assert shared_labels(NIH, [LABEL_MAPS["chexpert"][c] for c in CHEXPERT if c in LABEL_MAPS["chexpert"]]) == (
        "Atelectasis", "Cardiomegaly", "Effusion", "Pneumonia", "Pneumothorax", "Consolidation", "Edema",
    )  # fmt: skip
    assert shared_labels(("x", "b", "a"), ("a", "b")) == ("b", "a")


def test_to_common_combines_labels_mapped_together() -> None:
    index = _index([[1, 0, NAN], [0, -1, NAN], [0, 0, NAN], [NAN, NAN, NAN], [NAN, 1, -1]])
    merged = to_common(index, {"a": "A", "b": "A", "c": "C"}, labels=("A", "B", "C"))
    np.testing.assert_array_equal(
        merged.labels, [[1, NAN, NAN], [-1, NAN, NAN], [0, NAN, NAN], [NAN, NAN, NAN], [1, NAN, -1]]
    )


def test_to_common_refuses_what_it_cannot_map() -> None:
    index = _index([[1, 0, NAN], [0, 1, 0]])
    with pytest.raises(ValueError, match="to_common needs a multi-label index"):
        to_common(DatasetIndex(paths=(Path("/a"), Path("/b")), labels=np.array([0, 1]), classes=("a", "b")), "nih")
    with pytest.raises(ValueError, match=r"no common-label map for dataset 'vindr'; maps exist for nih, chexpert"):
        to_common(index, "vindr")
    with pytest.raises(ValueError, match=r"label map names \['z'\], not label\(s\) of the index \(labels: a, b, c\)"):
        to_common(index, {"a": "Edema", "z": "Mass"})
    with pytest.raises(ValueError, match=r"label map targets \['Edem'\], not in the common label space"):
        to_common(index, {"a": "Edem"})


def test_every_label_map_covers_its_adapter() -> None:
    for name, mapping in LABEL_MAPS.items():
        adapter = DATASETS[name]
        assert set(mapping) <= set(adapter.classes) and set(mapping.values()) <= set(COMMON_LABELS)
        assert set(adapter.classes) - set(mapping) <= {"Pleural Other", "Support Devices"}
        assert DATASETS[name].read.__doc__ and adapter.groups.startswith("patients")


# --- the adapters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kaggle", [False, True])
def test_nih(tmp_path: Path, kaggle: bool) -> None:
    root = nih_replica(tmp_path / "nih", kaggle=kaggle)
    assert detect_dataset(root) == "nih"
    index = read_dataset(root)
    assert len(index) == 18 and index.multilabel and index.classes == NIH and index.labels.shape == (18, 14)
    assert (index.class_counts > 0).all() and ((index.labels == 0).sum(axis=0) > 0).all()
    folder = "images_001/images" if kaggle else "images"
    assert _row(index, root / folder / "00000001_000.png") == {
        name: float(name in ("Atelectasis", "Cardiomegaly")) for name in NIH
    }  # nih_finding_labels(0) == "Atelectasis|Cardiomegaly"
    assert nih_finding_labels(3) == "No Finding"
    assert set(_row(index, root / ("images_002/images" if kaggle else "images") / "00000002_000.png").values()) == {0}
    table = pd.read_csv(root / "Data_Entry_2017.csv")
    for name, findings in zip(table["Image Index"], table["Finding Labels"]):
        row = index.labels[[p.name for p in index.paths].index(name)]
        assert {NIH[j] for j in np.flatnonzero(row == 1)} == set(findings.split("|")) - {"No Finding"}
    assert {p.name: g for p, g in zip(index.paths, index.groups)}["00000004_002.png"] == "4"
    test = set((root / "test_list.txt").read_text().split())
    assert [p.name in test for p in index.paths] == index.official_test.tolist() and index.official_test.sum() == 6
    assert not set(index.groups[index.official_test]) & set(index.groups[~index.official_test])
    assert read_image(index.paths[0], 16).shape == (16, 16)
    (root / "test_list.txt").unlink()
    assert read_dataset(root).official_test is None


def test_chexpert(tmp_path: Path) -> None:
    root = chexpert_replica(tmp_path / "data")
    folder = root / "CheXpert-v1.0-small"
    assert detect_dataset(root) == "chexpert" and detect_dataset(folder) == "chexpert"
    index = read_dataset(root)
    assert read_dataset(folder).paths == index.paths
    assert len(index) == 24 and index.classes == CHEXPERT and "No Finding" not in CHEXPERT
    assert (index.class_counts > 0).all() and ((index.labels == 0).sum(axis=0) > 0).all()
    assert (index.labels == -1).any() and np.isnan(index.labels).any()
    train = pd.read_csv(folder / "train.csv", dtype=str, keep_default_na=False)
    for r in (0, 5, 13):
        expected = {c: float(train.loc[r, c]) if train.loc[r, c] else NAN for c in CHEXPERT}
        assert _same(_row(index, root / train.loc[r, "Path"]), expected)
    assert train.loc[5, "Path"] == "CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg"
    assert index.groups[index.paths.index((root / train.loc[5, "Path"]).resolve())] == "patient00002"
    assert index.official_test.sum() == 8
    assert all(p.parts[-4] == "valid" for p, t in zip(index.paths, index.official_test) if t)
    assert not set(index.groups[index.official_test]) & set(index.groups[~index.official_test])
    assert set(index.labels[index.official_test].ravel().tolist()) == {0.0, 1.0}  # valid.csv: no -1, no blank
    frontal = read_dataset(root, "chexpert:frontal")
    assert len(frontal) == 12 and all(p.name == "view1_frontal.jpg" for p in frontal.paths)
    assert frontal.official_test.sum() == 4
    assert read_image(index.paths[0], 16).shape == (16, 16)
    renamed = folder.rename(root / "chexpert")  # the first component of Path is the dataset folder, by any name
    assert len(read_dataset(renamed, "chexpert")) == 24


@pytest.mark.parametrize("packed", [True, False])
def test_mimic(tmp_path: Path, packed: bool) -> None:
    root = mimic_replica(tmp_path / "mimic", packed=packed)
    assert detect_dataset(root) == "mimic-cxr-jpg"
    index = read_dataset(root)
    assert len(index) == 16 and index.classes == CHEXPERT and (index.class_counts > 0).all()
    assert all(p.relative_to(root.resolve()).parts[:2] in {("files", "p10"), ("files", "p11"), ("files", "p12")}
               for p in index.paths)  # fmt: skip
    suffix = ".csv.gz" if packed else ".csv"
    studies = pd.read_csv(root / f"mimic-cxr-2.0.0-chexpert{suffix}", dtype=str, keep_default_na=False)
    metadata = pd.read_csv(root / f"mimic-cxr-2.0.0-metadata{suffix}", dtype=str)
    for _, image in metadata.iterrows():
        path = root / "files" / f"p{image.subject_id[:2]}" / f"p{image.subject_id}" / f"s{image.study_id}"
        row = _row(index, path / f"{image.dicom_id}.jpg")
        study = studies[studies["study_id"] == image.study_id]
        if len(study):  # the file's alphabetical columns read by name
            assert _same(row, {c: float(study.iloc[0][c]) if study.iloc[0][c] else NAN for c in CHEXPERT})
        else:  # the study without a labels row: not labelled
            assert image.study_id == "53000001" and all(np.isnan(v) for v in row.values())
    groups = dict(zip([p.stem for p in index.paths], index.groups))
    assert {groups[d] for d in metadata["dicom_id"]} == set(metadata["subject_id"])
    assert set(index.groups[index.official_test]) == {"12000022"} and index.official_test.sum() == 4
    frontal = read_dataset(root, "mimic-cxr-jpg:frontal")
    pa = set(metadata.loc[metadata["ViewPosition"] == "PA", "dicom_id"])
    assert len(frontal) == 8 and {p.stem for p in frontal.paths} == pa
    assert read_image(index.paths[0], 16).shape == (16, 16)


def test_padchest(tmp_path: Path) -> None:
    root = padchest_replica(tmp_path / "padchest")
    assert detect_dataset(root) == "padchest"
    index = read_dataset(root)
    assert len(index) == 24 and index.classes == tuple(LABEL_MAPS["padchest"]) and index.official_test is None
    assert (index.class_counts > 0).all() and ((index.labels == 0).sum(axis=0) > 0).all()
    table = pd.read_csv(root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv", dtype=str, keep_default_na=False)
    by_terms = {
        terms: root / folder / image for image, folder, terms in zip(table.ImageID, table.ImageDir, table.Labels)
    }

    def positives(terms: str) -> set[str]:
        row = _row(index, by_terms[terms])
        return {name for name, value in row.items() if value == 1}

    assert positives("['normal']") == set() and positives("['pleural effusion', 'cardiomegaly']") == {
        "Effusion", "Cardiomegaly",
    }  # fmt: skip
    assert positives("['consolidation', ' air bronchogram']") == {"Consolidation", "Infiltration"}
    assert positives("['pulmonary mass', 'hiatal hernia']") == {"Mass", "Hernia"}
    assert positives("['apical pleural thickening', 'nodule']") == {"Pleural_Thickening", "Nodule"}
    assert positives("['subcutaneous emphysema', 'pseudonodule']") == set()  # exact terms, not substrings
    assert all(np.isnan(v) for v in _row(index, by_terms[""]).values())  # a blank Labels cell: not labelled
    assert len(set(index.groups)) == 6 and len(index.groups) == 24
    frontal = read_dataset(root, "padchest:frontal")
    assert len(frontal) == 12 and set(table.loc[table.Projection == "PA", "ImageID"]) == {p.name for p in frontal.paths}
    assert read_image(index.paths[0], 16).shape == (16, 16)


def test_each_adapter_declares_its_facts() -> None:
    assert DATASETS["nih"].official_split == "test_list.txt" and DATASETS["nih"].views == ("PA", "AP")
    assert DATASETS["chexpert"].official_split.startswith("valid.csv") and "frontal" in DATASETS["chexpert"].variants
    assert DATASETS["mimic-cxr-jpg"].official_split.endswith("split == test")
    assert not DATASETS["padchest"].official_split and len(DATASETS["padchest"].classes) == 15


# --- bad input ---------------------------------------------------------------------------------------------


def _rewrite(path: Path, old: str, new: str, count: int = -1) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as text:
            content = text.read()
        with gzip.open(path, "wt") as text:
            text.write(content.replace(old, new, count))
    else:
        path.write_text(path.read_text().replace(old, new, count))


def test_nih_bad_input(tmp_path: Path) -> None:
    root = nih_replica(tmp_path / "nih")
    entries = root / "Data_Entry_2017.csv"
    _rewrite(entries, "Finding Labels,", "Findings,", 1)
    assert _error(root) == (
        f"{entries}: missing column(s) Finding Labels; the documented columns are Image Index, Finding Labels, "
        "Patient ID, View Position."
    )
    _rewrite(entries, "Findings,", "Finding Labels,", 1)
    _rewrite(entries, "Atelectasis|", "Atelectasis|Covid|", 1)
    assert _error(root).startswith(
        f"{entries}: 1 finding(s) with label(s) 'Covid' (1×) outside the documented values Atelectasis, Cardiomegaly"
    )
    _rewrite(entries, "Atelectasis|Covid|", "Atelectasis|")
    for name in ("00000001_000.png", "00000001_001.png", "00000002_000.png", "00000003_002.png"):
        (root / "images" / name).unlink()
    message = _error(root)
    assert message.startswith(f"{entries}: 4 listed image(s) missing on disk: {root / 'images' / '00000001_000.png'}, ")
    assert message.endswith(" …")
    entries.unlink()
    assert detect_dataset(root) == "folder"
    assert _error(root, "nih") == f"--dataset nih: no {entries} (NIH ChestX-ray14's image list)."
    assert "nih has no variant 'frontal'; its variants: none (use --dataset nih)" in _error(root, "nih:frontal")


def test_chexpert_bad_input(tmp_path: Path) -> None:
    root = chexpert_replica(tmp_path / "data")
    train = root / "CheXpert-v1.0-small" / "train.csv"
    text = train.read_text()
    _rewrite(train, "Pleural Effusion", "Effusion", 1)
    assert _error(root) == (
        f"{train}: missing column(s) Pleural Effusion; the documented columns are Path, Frontal/Lateral, "
        + ", ".join(CHEXPERT)
        + "."
    )
    train.write_text(text.replace(",-1.0,", ",2,", 3))
    message = _error(root)
    assert message.startswith(f"{train}: column '") and "row(s) with value(s) '2' (" in message
    assert message.endswith("outside the documented values 1.0, 0.0, -1.0 and blank.")
    train.write_text(text.replace(",Lateral,,", ",Oblique,,", 2))
    assert f"{train}: 2 row(s) with label(s) 'Oblique' (2×) outside the documented values Frontal, Lateral." == _error(
        root
    )
    train.write_text(text.replace("/patient00002/", "/p2/"))
    assert f"{train}: 4 Path(s) without a patientNNNNN folder: CheXpert-v1.0-small/train/p2/study1/" in _error(root)
    train.write_text(text)
    (root / "CheXpert-v1.0-small" / "valid" / "patient64541" / "study2" / "view2_lateral.jpg").unlink()
    assert "valid.csv: 1 listed image(s) missing on disk: " in _error(root)
    assert _error(root, "chexpert:lateral") == (
        "--dataset: chexpert has no variant 'lateral'; its variants: chexpert:frontal."
    )
    (root / "CheXpert-v1.0-small" / "valid.csv").unlink()
    assert detect_dataset(root) != "chexpert"
    assert _error(root, "chexpert") == (
        f"--dataset chexpert: no train.csv and valid.csv in {root} or in one CheXpert-v1.0* folder inside it."
    )


def test_mimic_bad_input(tmp_path: Path) -> None:
    root = mimic_replica(tmp_path / "mimic")
    labels, split = root / "mimic-cxr-2.0.0-chexpert.csv.gz", root / "mimic-cxr-2.0.0-split.csv.gz"
    metadata = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    _rewrite(labels, ",Edema,", ",Oedema,", 1)
    assert f"{labels}: missing column(s) Edema; the documented columns are subject_id, study_id, " in _error(root)
    _rewrite(labels, ",Oedema,", ",Edema,", 1)
    _rewrite(labels, ",-1.0,", ",uncertain,", 1)
    assert "row(s) with value(s) 'uncertain' (1×) outside the documented values 1.0, 0.0, -1.0 and blank." in _error(
        root
    )
    _rewrite(labels, ",uncertain,", ",-1.0,")
    _rewrite(split, ",test", ",holdout")
    assert f"{split}: 4 row(s) with label(s) 'holdout' (4×) outside the documented values train, validate, test." == (
        _error(root)
    )
    _rewrite(split, ",holdout", ",test")
    _rewrite(split, "000p0e4b", "ffffffff")
    assert f"{split}: no split for 1 image(s) of {metadata.name}: 000p0e4b-" in _error(root)
    _rewrite(split, "ffffffff", "000p0e4b")
    next((root / "files" / "p12").rglob("*.jpg")).unlink()
    assert f"{metadata}: 1 listed image(s) missing on disk: {root / 'files' / 'p12' / 'p12000022'}/" in _error(root)
    split.unlink()
    assert _error(root) == f"--dataset mimic-cxr-jpg: no {split} (or {root / 'mimic-cxr-2.0.0-split.csv'})."
    assert "mimic-cxr-jpg has no variant 'pa'" in _error(root, "mimic-cxr-jpg:pa")


def test_padchest_bad_input(tmp_path: Path) -> None:
    root = padchest_replica(tmp_path / "padchest")
    table = root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
    text = table.read_text()
    table.write_text(text.replace(",Projection,", ",View,", 1))
    assert _error(root) == (
        f"{table}: missing column(s) Projection; the documented columns are ImageID, ImageDir, PatientID, "
        "Projection, Labels."
    )
    table.write_text(text.replace(",L,", ",LATERAL,", 3))
    assert f"{table}: 3 row(s) with label(s) 'LATERAL' (3×) outside the documented values PA, AP" in _error(root)
    table.write_text(text.replace("['normal']", "normal"))
    assert _error(root) == (
        f"{table}: column 'Labels': 3 row(s) not a list of terms like \"['pneumonia', 'normal']\": "
        "'normal', 'normal', 'normal'"
    )
    table.write_text(text)
    next((root / "1").iterdir()).unlink()
    assert f"{table}: 1 listed image(s) missing on disk: {root / '1'}/" in _error(root)
    assert "padchest has no variant 'lateral'; its variants: padchest:frontal" in _error(root, "padchest:lateral")
    table.unlink()
    assert _error(root, "padchest") == (f"--dataset padchest: no {table} (or {table.name}.gz), PadChest's image list.")
