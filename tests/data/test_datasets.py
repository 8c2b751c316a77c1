"""Dataset adapters on small replicas in each dataset's own layout, auto-detection and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from raycxr.data import (
    DATASETS,
    TestSpec,
    check_dataset_use,
    dataset_names,
    detect_dataset,
    draw_test,
    index_csv,
    index_folder,
    read_dataset,
    read_image,
    resolve_dataset,
)
from raycxr.train import TrainConfig, task_index
from tests.data.replicas import covidx_replica, png, rsna_replica


def test_the_registry_declares_each_dataset() -> None:
    assert set(dataset_names()) == {
        "chexpert", "covidx", "csv", "folder", "kaggle-covid", "mimic-cxr-jpg", "nih", "padchest", "rsna-pneumonia",
    }  # fmt: skip
    assert DATASETS["covidx"].official_split == "test.txt" and DATASETS["covidx"].groups.startswith("patients")
    assert not DATASETS["rsna-pneumonia"].official_split and "detailed" in DATASETS["rsna-pneumonia"].variants
    assert DATASETS["kaggle-covid"].classes == ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
    for adapter in DATASETS.values():
        assert adapter.description and adapter.layout and adapter.read.__doc__


def test_covidx(tmp_path: Path) -> None:
    root = covidx_replica(tmp_path / "covidx")
    assert detect_dataset(root) == "covidx"
    index = read_dataset(root)
    assert index.classes == ("negative", "positive")  # positive second: P(second class) is P(COVID-19)
    assert len(index) == 28
    official = index.official_test
    assert official is not None
    test_lines = (root / "test.txt").read_text().split()[1::4]
    assert sorted(p.name for p, t in zip(index.paths, official) if t) == sorted(test_lines)
    assert all(p.parent.name == "test" for p, t in zip(index.paths, official) if t)
    assert {p.parent.name for p in index.paths} == {"train", "val", "test"}
    row = index.paths.index((root / "train" / "train-3-1.png").resolve())
    assert index.groups[row] == "P3" and index.classes[index.labels[row]] == "positive"
    assert read_image(index.paths[row], 16).shape == (16, 16)


def test_covidx_without_val_and_older_labels(tmp_path: Path) -> None:
    root = covidx_replica(tmp_path / "v9", labels=("COVID-19", "normal", "pneumonia"))
    for name in (root / "val").iterdir():
        name.unlink()
    (root / "val").rmdir()
    (root / "val.txt").unlink()  # CXR-3 has no val.txt
    index = read_dataset(root, "covidx")
    assert index.classes == ("COVID-19", "normal", "pneumonia") and len(index) == 24


def test_rsna_pneumonia(tmp_path: Path) -> None:
    root = rsna_replica(tmp_path / "rsna")
    assert detect_dataset(root) == "rsna-pneumonia"
    index = read_dataset(root)
    assert len(index) == 6  # one image per patientId, though one has two box rows
    assert index.classes == ("No Opacity", "Opacity")
    named = {p.stem: index.classes[y] for p, y in zip(index.paths, index.labels)}
    assert named == {
        "0004cfab": "No Opacity", "00313ee0": "No Opacity", "00436515": "Opacity",
        "00569f44": "No Opacity", "00704310": "Opacity", "00aecb01": "No Opacity",
    }  # fmt: skip
    assert [str(g) for g in index.groups] == [p.stem for p in index.paths]  # one group per image
    assert index.official_test is None
    assert read_image(index.paths[0], 16).shape == (16, 16)  # the DICOMs decode
    detailed = read_dataset(root, "rsna-pneumonia:detailed")
    assert detailed.classes == ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
    assert {p.stem: detailed.classes[y] for p, y in zip(detailed.paths, detailed.labels)}["00313ee0"] == "Normal"


def test_folder_layouts_and_csv_read_as_before(tiny_dataset: Path, tmp_path: Path) -> None:
    assert detect_dataset(tiny_dataset) == "kaggle-covid"
    kaggle, folder = read_dataset(tiny_dataset), index_folder(tiny_dataset)
    assert kaggle.paths == folder.paths and kaggle.groups.tolist() == folder.groups.tolist()
    for name in ("a", "b"):
        png(tmp_path / "plain" / name / "1.png")
    assert detect_dataset(tmp_path / "plain") == "folder"
    assert read_dataset(tmp_path / "plain").classes == ("a", "b")
    (tmp_path / "plain" / "t.csv").write_text("path,label,group\na/1.png,x,s1\nb/1.png,y,s2\n")
    assert detect_dataset(tmp_path / "plain" / "t.csv") == "csv"
    by_csv = read_dataset(tmp_path / "plain" / "t.csv")
    assert by_csv.paths == index_csv(tmp_path / "plain" / "t.csv").paths and by_csv.groups.tolist() == ["s1", "s2"]


def test_official_test_split_is_the_test_set(tmp_path: Path) -> None:
    root = covidx_replica(tmp_path / "covidx")
    index = read_dataset(root)
    test = draw_test(index, root, TestSpec(official=True, group=True))
    assert (test == index.official_test).all()
    # A patient in both the official test split and train is refused under a group split.
    with (root / "train.txt").open("a") as lines:
        lines.write("P10 extra.png negative sirm\n")
    png(root / "train" / "extra.png")
    with pytest.raises(ValueError, match=r"official test split: group\(s\) P10 have images in both dev and test"):
        draw_test(read_dataset(root), root, TestSpec(official=True, group=True))
    with pytest.raises(ValueError, match="this dataset has none"):
        draw_test(read_dataset(rsna_replica(tmp_path / "rsna")), tmp_path / "rsna", TestSpec(official=True))


def test_auto_detection_refuses_two_layouts_at_once(tmp_path: Path) -> None:
    root = rsna_replica(covidx_replica(tmp_path / "both"))
    with pytest.raises(ValueError, match=r"looks like covidx and rsna-pneumonia; choose one with --dataset"):
        resolve_dataset(root)
    assert resolve_dataset(root, "covidx") == "covidx"


def _replace(path: Path, old: str, new: str, count: int = -1) -> None:
    path.write_text(path.read_text().replace(old, new, count))


def test_bad_input_is_one_line_naming_the_problem(tmp_path: Path) -> None:
    def error(root: Path, name: str = "auto") -> str:
        with pytest.raises(ValueError) as info:
            read_dataset(root, name)
        message = str(info.value)
        assert "\n" not in message
        return message

    covidx = covidx_replica(tmp_path / "covidx")
    text = (covidx / "test.txt").read_text()
    (covidx / "test.txt").write_text("\n".join(" ".join(line.split()[:3]) for line in text.splitlines()) + "\n")
    assert error(covidx) == (
        f"{covidx / 'test.txt'}: missing column(s) data_source; the documented columns are "
        "patient_id filename class data_source."
    )
    (covidx / "test.txt").write_text(text.replace("negative", "maybe"))
    assert f"{covidx / 'test.txt'}: 4 row(s) with label(s) 'maybe' (4×) outside the documented values" in error(covidx)
    (covidx / "test.txt").write_text(text)
    for name in ("test-10-0.png", "test-10-1.png", "test-11-0.png", "test-12-1.png"):
        (covidx / "test" / name).unlink()
    message = error(covidx)
    assert message.startswith(f"{covidx / 'test.txt'}: 4 listed image(s) missing on disk: {covidx / 'test'}/")
    assert message.endswith(" …")

    rsna = rsna_replica(tmp_path / "rsna")
    labels = (rsna / "stage_2_train_labels.csv").read_text()
    (rsna / "stage_2_train_labels.csv").write_text(labels.replace(",Target", ",Label"))
    assert error(rsna) == (
        f"{rsna / 'stage_2_train_labels.csv'}: missing column(s) Target; the documented columns are "
        "patientId, x, y, width, height, Target."
    )
    (rsna / "stage_2_train_labels.csv").write_text(labels.replace("00313ee0,,,,,0", "00313ee0,,,,,2"))
    assert "1 row(s) with label(s) '2' (1×) outside the documented values 0, 1" in error(rsna)
    (rsna / "stage_2_train_labels.csv").write_text(labels)
    _replace(rsna / "stage_2_detailed_class_info.csv", "00313ee0,Normal", "00313ee0,Healthy")
    detailed = error(rsna, "rsna-pneumonia:detailed")
    assert "label(s) 'Healthy' (1×) outside the documented values Lung Opacity" in detailed
    (rsna / "stage_2_detailed_class_info.csv").unlink()
    assert "rsna-pneumonia:detailed needs" in error(rsna, "rsna-pneumonia:detailed")
    (rsna / "stage_2_train_images" / "00569f44.dcm").unlink()
    assert "1 listed image(s) missing on disk: " in error(rsna)

    kaggle = tmp_path / "kaggle"
    for name in ("COVID", "Normal", "Other"):
        png(kaggle / name / "images" / f"{name}-1.png")
    assert "1 image(s) with label(s) 'Other' (1×) outside the documented values COVID" in error(kaggle, "kaggle-covid")

    assert error(covidx, "vindr-cxr") == (
        "--dataset: unknown dataset 'vindr-cxr'; choose one of auto, chexpert, covidx, csv, folder, kaggle-covid, "
        "mimic-cxr-jpg, nih, padchest, rsna-pneumonia."
    )
    assert "rsna-pneumonia has no variant 'boxes'; its variants: rsna-pneumonia:detailed" in error(
        rsna, "rsna-pneumonia:boxes"
    )
    with pytest.raises(ValueError, match="--test-split official: dataset rsna-pneumonia has no official test split"):
        check_dataset_use("rsna-pneumonia", official=True, group=False)
    check_dataset_use("covidx", official=True, group=True)


def test_a_run_reads_through_the_dataset_it_names(tmp_path: Path) -> None:
    root = rsna_replica(tmp_path / "rsna")
    detailed = task_index(TrainConfig(data=root, dataset="rsna-pneumonia:detailed"))
    assert detailed.classes == ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
    assert task_index(TrainConfig(data=root)).classes == ("No Opacity", "Opacity")  # auto: detected
    with pytest.raises(ValidationError, match="unknown dataset 'vindr-cxr'; choose one of auto, chexpert, covidx"):
        TrainConfig(dataset="vindr-cxr")
