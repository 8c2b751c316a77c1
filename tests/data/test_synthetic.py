from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from raycxr.data.synthetic import CLASSES, REAL_COUNTS, class_counts, generate, main, phantom


def test_class_counts_follow_the_real_proportions() -> None:
    counts = class_counts(2000)
    assert sum(counts) == 2000
    expected = np.asarray(REAL_COUNTS) / sum(REAL_COUNTS) * 2000
    assert np.all(np.abs(np.asarray(counts) - expected) <= 1)
    assert class_counts(4) == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="at least 4"):
        class_counts(3)


def test_writes_the_kaggle_layout(tiny_dataset: Path) -> None:
    for kind, count in zip(CLASSES, class_counts(120)):
        files = sorted((tiny_dataset / kind / "images").glob("*.png"))
        assert len(files) == count
        assert (tiny_dataset / kind / "images" / f"{kind}-1.png").exists()
        with Image.open(files[0]) as image:
            assert image.mode == "L" and image.size == (64, 64)
        sheet = pd.read_excel(tiny_dataset / f"{kind}.metadata.xlsx")
        assert {"FILE NAME", "URL"} <= set(sheet.columns) and len(sheet) == count


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", n=8, size=48, seed=3, workers=1)
    b = generate(tmp_path / "b", n=8, size=48, seed=3, workers=2)
    c = generate(tmp_path / "c", n=8, size=48, seed=4, workers=1)
    name = "COVID/images/COVID-1.png"
    assert np.array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(b / name)))
    assert not np.array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(c / name)))


def test_phantom_anatomy_lungs_darker_than_mediastinum() -> None:
    image = phantom("Normal", 128, np.random.default_rng(0)).astype(float)
    left_lung, mediastinum, outside = image[50, 35], image[40, 64], image[5, 5]
    assert outside < left_lung < mediastinum


def test_findings_differ_between_classes_on_average() -> None:
    """Same anatomy and noise draws aside, class findings add density inside the lungs."""
    mean = {k: np.mean([phantom(k, 64, np.random.default_rng(i)).mean() for i in range(30)]) for k in CLASSES}
    assert mean["COVID"] > mean["Normal"]
    assert mean["Viral Pneumonia"] > mean["Normal"]


def test_refuses_existing_dataset_and_bad_arguments(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already contains a dataset"):
        generate(tiny_dataset, n=8, size=48)
    with pytest.raises(ValueError, match="at least 32"):
        generate(tmp_path / "x", n=8, size=16)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "y"), "--n", "2"])


def test_shift_zero_is_the_unshifted_image_and_a_shift_changes_the_look() -> None:
    def draw(shift: float) -> np.ndarray:
        return phantom("COVID", 96, np.random.default_rng(7), source=1, shift=shift).astype(float)

    plain = phantom("COVID", 96, np.random.default_rng(7), source=1)
    assert np.array_equal(draw(0.0), plain)
    shifted = draw(1.0)
    assert shifted.shape == plain.shape
    assert shifted.std() < plain.std()  # lower contrast
    # The body moved: its centre of mass is off the unshifted one by more than a few pixels.
    _, xs = np.indices(plain.shape)
    centre = [np.average(xs, weights=image) for image in (plain, shifted)]
    assert abs(centre[0] - centre[1]) > 2


def test_shift_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--shift must be in \[0, 1\], got 1.5"):
        generate(tmp_path / "x", n=8, size=48, shift=1.5)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "y"), "--n", "8", "--size", "48", "--shift", "-0.1"])
