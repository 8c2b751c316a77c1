"""Tasks: a subset of the classes, merged classes, and fold files that name images the task leaves out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycxr.data import index_dataset, read_fold_files, select_task


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("task")
    for name, n in (("COVID", 3), ("Lung_Opacity", 2), ("Normal", 4), ("Viral Pneumonia", 2)):
        folder = root / name / "images"
        folder.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), i * 20, dtype=np.uint8)).save(folder / f"{name}-{i + 1}.png")
    return root


def test_classes_subset_in_the_given_order(kaggle: Path) -> None:
    task = select_task(index_dataset(kaggle), ["normal", "COVID"])
    assert task.classes == ("Normal", "COVID")
    assert len(task) == 7 and task.class_counts.tolist() == [4, 3]
    assert all(p.parent.parent.name in ("Normal", "COVID") for p in task.paths)
    assert "LUNG_OPACITY-1" in task.absent and "COVID-1" not in task.absent


def test_class_map_merges_before_the_subset(kaggle: Path) -> None:
    index = index_dataset(kaggle)
    merged = select_task(index, class_map={"Lung_Opacity": "Other", "Viral Pneumonia": "Other"})
    assert merged.classes == ("COVID", "Other", "Normal")
    assert merged.class_counts.tolist() == [3, 4, 4]
    binary = select_task(index, ["Normal", "Other"], {"Lung_Opacity": "Other", "Viral Pneumonia": "Other"})
    assert binary.classes == ("Normal", "Other") and len(binary) == 8


def test_bad_task_names_the_class_and_the_choices(kaggle: Path) -> None:
    index = index_dataset(kaggle)
    with pytest.raises(ValueError, match=r"--classes: 'Covid19' is not a class of the dataset \(classes: COVID, "):
        select_task(index, ["Covid19", "Normal"])
    with pytest.raises(ValueError, match="--class-map: 'Bacterial' is not a class of the dataset"):
        select_task(index, class_map={"Bacterial": "Other"})
    with pytest.raises(ValueError, match="at least two classes"):
        select_task(index, ["COVID"])
    with pytest.raises(ValueError, match="names 'covid' twice"):
        select_task(index, ["COVID", "covid"])


def test_fold_files_naming_images_of_dropped_classes_read_as_absent(kaggle: Path, tmp_path: Path) -> None:
    task = select_task(index_dataset(kaggle), ["COVID", "Normal"])
    fold = tmp_path / "fold1.csv"
    pd.DataFrame({"FILE NAME": ["COVID-1", "Lung_Opacity-1", "Normal-2", "Viral Pneumonia-2"]}).to_csv(fold)
    folds = read_fold_files(task, [fold])
    assert sorted(task.stems[r] for r in folds.test_sets[0]) == ["COVID-1", "Normal-2"]
    unknown = tmp_path / "fold2.csv"
    pd.DataFrame({"FILE NAME": ["COVID-1", "Bacterial-9"]}).to_csv(unknown)
    with pytest.raises(ValueError, match="not in the dataset: BACTERIAL-9"):
        read_fold_files(task, [unknown])
