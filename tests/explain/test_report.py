from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raycxr.explain import overlay, saliency_examples, saliency_section, write_overlays
from tests.explain.phantoms import CLASSES, Trained


def test_overlay_and_write_overlays(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 48, 80), dtype=np.uint8)
    maps = rng.random((2, 48, 80)).astype(np.float32)
    rgb = overlay(images[0], maps[0])
    assert rgb.shape == (48, 80, 3) and rgb.dtype == np.uint8
    paths = write_overlays(tmp_path / "out", ["COVID 1", "a/b"], images, maps)
    assert [p.name for p in paths] == ["COVID_1.png", "a_b.png"]
    with Image.open(paths[0]) as png:
        assert png.size == (80, 48) and png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), rgb)
    with pytest.raises(ValueError, match="shape"):
        overlay(images[0], maps[0].T)
    with pytest.raises(ValueError, match="distinct"):
        write_overlays(tmp_path, ["a b", "a_b"], images, maps)


def _with_mistakes(trained: Trained) -> np.ndarray:
    """The model's probabilities, with rows 0–5 (two per class) moved to the next class."""
    proba = trained.proba.copy()
    proba[:6] = np.roll(proba[:6], 1, axis=1)
    assert (proba.argmax(1) != trained.labels)[:6].all()
    return proba


def test_saliency_examples_are_seeded_per_class_correct_and_wrong(trained: Trained) -> None:
    proba = _with_mistakes(trained)
    examples = saliency_examples(trained.model, trained.images, trained.labels, proba, CLASSES, per_class=2, seed=0)
    predicted = proba.argmax(1)
    assert len(examples) == 12
    for k, name in enumerate(CLASSES):
        mine = [e for e in examples if e.class_name == name]
        assert [e.correct for e in mine] == [True, True, False, False]
        for e in mine:
            assert trained.labels[e.row] == k and (predicted[e.row] == k) == e.correct
            assert e.saliency.shape == (64, 64)
    again = saliency_examples(trained.model, trained.images, trained.labels, proba, CLASSES, seed=0)
    assert [e.row for e in again] == [e.row for e in examples]
    other = saliency_examples(trained.model, trained.images, trained.labels, proba, CLASSES, seed=1)
    assert [e.row for e in other] != [e.row for e in examples]
    row, class_name, correct, saliency = examples[-1]  # a plain (row, class, correct, map) tuple
    assert class_name == "marker" and not correct and trained.labels[row] == 2 and saliency.shape == (64, 64)


def test_saliency_section_writes_a_figure_per_class_and_the_shortcut_table(trained: Trained, tmp_path: Path) -> None:
    names = [f"img-{i}" for i in range(len(trained.images))]
    lines = saliency_section(trained.model, trained.images, trained.labels, _with_mistakes(trained), CLASSES,
                             tmp_path, names=names, per_class=1, audit=60)  # fmt: skip
    text = "\n".join(lines)
    for name in CLASSES:
        assert f"![saliency_{name}.png](saliency_{name}.png)" in text
        with Image.open(tmp_path / f"saliency_{name}.png") as png:
            assert png.size[0] > 200 and png.size[1] > 200
    assert "`features.1`" in text  # the default layer
    marker = next(line for line in lines if line.startswith("| marker |"))
    assert marker.endswith("| **yes** |")
    assert (tmp_path / "saliency_shortcuts.csv").is_file()
