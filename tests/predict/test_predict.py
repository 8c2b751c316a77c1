"""``python -m raycxr.predict`` on real files with models trained for real: decoding, parity, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from raycxr.data import index_folder, read_image
from raycxr.evaluation import DecisionRule, apply_temperature
from raycxr.predict import ModelError, load_model, predict_files, probability_column
from raycxr.train import evaluate_state
from tests.data.test_dicom import write_dicom
from tests.predict.conftest import run_predict


def _probabilities(csv: Path, classes: tuple[str, ...]) -> np.ndarray:
    table = pd.read_csv(csv)
    return table[[probability_column(c) for c in classes]].to_numpy()


def test_png_and_dicom_of_the_same_pixels_give_the_same_probabilities(
    trained_run: Path, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dicoms = tmp_path / "dicom"
    dicoms.mkdir()
    for i, png in enumerate(pngs):
        pixels = np.asarray(Image.open(png))
        assert pixels.dtype == np.uint8 and pixels.ndim == 2
        # A PACS export without a suffix for one of them: found in the folder by its 'DICM' marker.
        name = f"image{i}" if i == 0 else f"image{i}.dcm"
        write_dicom(dicoms / name, pixels, bits_stored=8)
    (dicoms / "notes.txt").write_text("not an image")  # neither a suffix of images nor DICOM: not picked up

    code, out, err = run_predict([str(trained_run), str(pngs[0].parent), "--out", str(tmp_path / "png.csv")], capsys)
    assert code == 0, err
    code, out, err = run_predict([str(trained_run), str(dicoms), "--out", str(tmp_path / "dcm.csv")], capsys)
    assert code == 0, err
    assert f"{len(pngs)} image(s) predicted" in out and "warning" not in err

    classes = load_model(trained_run).classes
    from_png, from_dicom = _probabilities(tmp_path / "png.csv", classes), _probabilities(tmp_path / "dcm.csv", classes)
    assert from_png.shape == (len(pngs), 4)
    np.testing.assert_allclose(from_dicom, from_png, atol=1e-6)  # rows of both folders are in the same order
    assert set(pd.read_csv(tmp_path / "dcm.csv")["file"].map(lambda f: Path(f).name)) == {
        f"image{i}" if i == 0 else f"image{i}.dcm" for i in range(len(pngs))
    }


def test_predict_equals_evaluate_state_on_the_same_rows(trained_run: Path, tiny_dataset: Path) -> None:
    checkpoint = torch.load(trained_run / "best.pt", weights_only=True)
    loaded = load_model(trained_run)
    assert loaded.classes == tuple(checkpoint["classes"]) and loaded.kind == "train"
    index = index_folder(tiny_dataset)
    rows = np.arange(0, len(index), 7)  # 18 images of every class
    images = np.stack([read_image(index.paths[r], loaded.image_size, loaded.interpolation) for r in rows])
    cfg = loaded.config.model_copy(update={"device": "cpu"})
    _, expected = evaluate_state(
        cfg, checkpoint["model"], images, index.labels[rows], index.classes, np.arange(len(rows))
    )

    result = predict_files(loaded, [index.paths[r] for r in rows], batch_size=5)
    assert result.files == [str(index.paths[r]) for r in rows] and not result.failures
    # The training folder keeps the rule decided on validation: its temperature calibrates the probabilities.
    assert loaded.rule == DecisionRule.from_dict(checkpoint["decision"]) and loaded.temperature is not None
    np.testing.assert_allclose(result.probabilities, loaded.rule.calibrate(expected), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(result.predicted, expected.argmax(1))


def test_unreadable_images_are_reported_and_the_others_predicted(
    trained_run: Path, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = pngs[0].parent
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (folder / "empty.jpg").write_bytes(b"")
    missing = tmp_path / "missing.png"
    out_csv = tmp_path / "out" / "preds.csv"
    code, out, err = run_predict([str(trained_run), str(folder), str(missing), "--out", str(out_csv)], capsys)
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert any("broken.png" in line for line in errors) and any("empty.jpg" in line for line in errors)
    assert any("missing.png" in line for line in errors)
    assert errors[-1] == f"error: 3 of {len(pngs) + 3} image(s) could not be read."
    assert "Traceback" not in err
    assert f"{len(pngs)} image(s) predicted" in out and "3 could not be read" in out
    table = pd.read_csv(out_csv)
    assert sorted(Path(f).name for f in table["file"]) == sorted(p.name for p in pngs)


def test_dicom_of_another_modality_is_predicted_with_a_warning_naming_it(
    trained_run: Path, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct = write_dicom(tmp_path / "ct.dcm", np.asarray(Image.open(pngs[0])), bits_stored=8, Modality="CT")
    code, out, err = run_predict([str(trained_run), str(ct), str(pngs[1]), "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert str(ct) in warning and "'CT'" in warning
    assert "2 image(s) predicted" in out and "1 warning(s)" in out
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2


@pytest.mark.parametrize("kind", ["missing", "empty folder", "a file", "experiment without a finished trial"])
def test_a_bad_model_path_is_a_one_line_error(
    kind: str, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    if kind == "empty folder":
        model.mkdir()
    elif kind == "a file":
        model.write_text("weights?")
    elif kind == "experiment without a finished trial":
        model.mkdir()
        (model / "raycxr.json").write_text(json.dumps({"settings": {}, "space": {}}))
    code, _, err = run_predict([str(model), str(pngs[0])], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and str(model) in err, err
    if kind == "experiment without a finished trial":
        assert "no best_config.json" in err
    else:
        assert "expected a search experiment folder" in err
    assert "Traceback" not in err


def test_a_bad_model_folder_raises_model_error(trained_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read the checkpoint"):
        load_model(copy)
    with pytest.raises(ModelError, match="--trial applies to a search experiment"):
        load_model(trained_run, trial="abc")
    with pytest.raises(ModelError, match="needs an exported bundle"):
        load_model(trained_run, runtime="onnx")


def test_binary_single_logit_model_gives_two_probabilities_and_uses_its_threshold(
    binary_run: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_model(binary_run)
    assert loaded.binary and loaded.classes == ("Normal", "COVID")
    threshold = json.loads((binary_run / "metrics.json").read_text())["val"]["threshold"]
    assert loaded.threshold == pytest.approx(threshold)
    with torch.no_grad():
        assert loaded.model(torch.zeros(1, loaded.image_size, loaded.image_size, dtype=torch.uint8)).shape == (1, 1)
    files = sorted((tiny_dataset / "COVID" / "images").glob("*.png"))[:6]
    files += sorted((tiny_dataset / "Normal" / "images").glob("*.png"))[:6]
    argv = [str(binary_run), *map(str, files), "--out", str(tmp_path / "b.csv"), "--quiet"]
    code, out, err = run_predict(argv, capsys)
    assert code == 0, err
    assert f"threshold {threshold:.4g}" in out
    table = pd.read_csv(tmp_path / "b.csv")
    assert list(table.columns) == ["file", "p_Normal", "p_COVID", "predicted", "ood", "ood_score", "ood_reason"]
    assert load_model(binary_run).rule.ood is not None  # one sigmoid logit z is scored as [0, z]
    assert len(table) == len(files)
    np.testing.assert_allclose(table["p_Normal"] + table["p_COVID"], 1.0, atol=1e-6)
    # The CSV has calibrated probabilities; the threshold is on the uncalibrated ones (T undone here).
    raw = apply_temperature(table[["p_Normal", "p_COVID"]].to_numpy(), 1 / loaded.temperature)[:, 1]
    expected = np.where(raw >= threshold, "COVID", "Normal")
    near = np.abs(raw - threshold) < 1e-5  # the CSV rounds to float32 digits
    assert (table["predicted"][~near] == expected[~near]).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_device_cuda_without_a_gpu_is_a_one_line_error(
    trained_run: Path, pngs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_predict([str(trained_run), str(pngs[0]), "--device", "cuda"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no GPU is visible" in err


def test_saliency_writes_one_grad_cam_overlay_per_image(
    trained_run: Path, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_csv, maps = tmp_path / "preds.csv", tmp_path / "saliency"
    argv = [str(trained_run), *map(str, pngs), "--out", str(out_csv), "--saliency", str(maps)]
    code, out, _ = run_predict(argv, capsys)
    assert code == 0 and f"wrote {len(pngs)} Grad-CAM overlay(s)" in out
    written = sorted(maps.glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in pngs)
    with Image.open(written[0]) as image:
        assert image.mode == "RGB" and image.size[0] == image.size[1]
