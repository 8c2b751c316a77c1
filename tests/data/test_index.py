from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raycxr.data import index_csv, index_dataset, index_folder


def _png(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 40), value, dtype=np.uint8)).save(path)
    return path


def test_kaggle_layout_with_spaces_and_groups(tiny_dataset: Path) -> None:
    index = index_folder(tiny_dataset)
    assert index.classes == ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
    assert len(index) == 120
    assert index.class_counts.sum() == 120 and (index.class_counts > 0).all()
    assert index.groups is not None and all(g.startswith("https://") for g in index.groups)
    first_vp = int(np.flatnonzero(index.labels == 3)[0])
    assert index.paths[first_vp].parent.parent.name == "Viral Pneumonia"


def test_plain_class_folders(tmp_path: Path) -> None:
    _png(tmp_path / "b" / "1.png")
    _png(tmp_path / "a" / "2.jpg")
    _png(tmp_path / "a" / "3.png")
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    index = index_folder(tmp_path)
    assert index.classes == ("a", "b")
    assert index.labels.tolist() == [0, 0, 1]
    assert index.groups is None


def test_csv_with_groups(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "x.png")
    _png(tmp_path / "img" / "y.png")
    (tmp_path / "d.csv").write_text("path,label,group\nimg/x.png,sick,s1\nimg/y.png,well,s2\n")
    index = index_dataset(tmp_path / "d.csv")
    assert index.classes == ("sick", "well")
    assert index.paths[0] == (tmp_path / "img" / "x.png").resolve()
    assert index.groups.tolist() == ["s1", "s2"]


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        index_folder(tmp_path / "missing")
    _png(tmp_path / "one" / "1.png")
    with pytest.raises(ValueError, match="at least two are needed"):
        index_folder(tmp_path)
    (tmp_path / "two").mkdir()
    with pytest.raises(ValueError, match=r"\['two'\] have no images"):
        index_folder(tmp_path)
    (tmp_path / "d.csv").write_text("path,label\none/1.png,a\none/1.png,zebra\n")
    with pytest.raises(ValueError, match="line 3: label 'zebra' is not one of"):
        index_csv(tmp_path / "d.csv", classes=["a", "b"])
    (tmp_path / "e.csv").write_text("file,label\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['path'\]"):
        index_csv(tmp_path / "e.csv")
