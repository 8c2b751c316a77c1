"""``predict --tta N``: logits averaged over each image and N seeded augmented views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from raycxr.predict import augmented_views, decode, load_model, predict_files, run_model
from tests.predict.conftest import run_predict


def test_views_change_pixels_not_shapes_and_are_seeded(pngs: list[Path], trained_run: Path) -> None:
    loaded = load_model(trained_run)
    images = np.stack([np.full((32, 32), 40, np.uint8), np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))])
    views = augmented_views(images, 3)
    assert len(views) == 3 and all(v.shape == images.shape and v.dtype == np.uint8 for v in views)
    assert not np.array_equal(views[0], images) and not np.array_equal(views[0], views[1])
    assert all(np.array_equal(a, b) for a, b in zip(views, augmented_views(images, 3)))  # same seed, same views
    assert run_model(loaded, views[0]).shape == (2, 4)


def test_tta_averages_the_logits_of_the_views(trained_run: Path, pngs: list[Path]) -> None:
    loaded = load_model(trained_run)
    plain = predict_files(loaded, pngs, batch_size=8, progress=False)
    tta = predict_files(loaded, pngs, batch_size=8, tta=2, progress=False)
    assert tta.files == plain.files and tta.probabilities.shape == plain.probabilities.shape
    assert not np.allclose(tta.probabilities, plain.probabilities)
    np.testing.assert_allclose(tta.probabilities.sum(axis=1), 1.0, atol=1e-6)
    # By hand: the mean of the logits of the original and its two views, through the model's temperature.
    images = np.stack([decode(p, loaded.image_size, loaded.interpolation, resize=loaded.resize)[0] for p in pngs])
    z = torch.stack([run_model(loaded, v) for v in [images, *augmented_views(images, 2)]]).mean(0)
    expected = torch.softmax(z / (loaded.temperature or 1.0), dim=1).numpy()
    np.testing.assert_allclose(tta.probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(tta.ood_score, plain.ood_score)  # the OOD score is the original image's


def test_tta_on_the_command_line(trained_run: Path, pngs: list[Path], tmp_path: Path, capsys) -> None:
    code, out, err = run_predict([str(trained_run), *map(str, pngs), "--tta", "2", "--out", str(tmp_path / "t.csv")],
                                 capsys)  # fmt: skip
    assert code == 0, err
    assert "test-time augmentation: logits averaged over each image and 2 augmented view(s)" in out
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(pngs)


@pytest.mark.parametrize("bad", ["-1", "33"])
def test_a_bad_tta_is_a_one_line_error(trained_run: Path, pngs: list[Path], bad: str, capsys) -> None:
    code, _, err = run_predict([str(trained_run), str(pngs[0]), "--tta", bad], capsys)
    assert code == 2 and err.strip().splitlines() == [f"error: --tta must be an integer in [0, 32] (augmented "
                                                      f"views per image), got {int(bad)}"]  # fmt: skip
