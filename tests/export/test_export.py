"""``python -m raycxr.export``: TorchScript and ONNX agree with PyTorch, and a bundle predicts on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from raycxr.data import read_image
from raycxr.export.__main__ import main as export_main
from raycxr.predict import load_model, predict_files
from raycxr.predict.__main__ import main as predict_main
from raycxr.train import TrainConfig, model_for


def _exit_code(function, argv: list[str]) -> int:
    try:
        return function(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.fixture(scope="module")
def bundle(trained_run: Path, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bundle, the training folder it was exported from: a copy, deleted after the export)."""
    root = tmp_path_factory.mktemp("export")
    source = root / "run"
    shutil.copytree(trained_run, source)
    samples = sorted((tiny_dataset / "Normal" / "images").glob("*.png"))[:3]
    code = _exit_code(export_main, [str(source), str(root / "bundle"), "--sample", *map(str, samples)])
    assert code == 0
    return root / "bundle", source


def test_export_round_trip_agrees_with_pytorch_without_the_source_folder(
    bundle: tuple[Path, Path], trained_run: Path, pngs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, source = bundle
    info = json.loads((out / "bundle.json").read_text())
    assert info["files"] == {"onnx": "model.onnx", "torchscript": "model.ts"} and info["torchscript_error"] is None
    assert info["classes"] == ["COVID", "Lung_Opacity", "Normal", "Viral Pneumonia"] and not info["binary"]
    assert info["input"]["dtype"] == "uint8" and info["input"]["size"] == 32
    assert info["input"]["interpolation"] == "nearest" and info["onnx_batch"] is None  # dynamic batch axis
    assert info["input"]["resize"] == info["train_config"]["resize"] == "pad"
    assert info["backbone"] == "resnet18" and info["head"] == "gap"
    assert info["input"]["normalisation"]["kind"] == "unit"
    assert info["check"]["n"] == 3 and info["check"]["onnx_max_abs_diff"] <= 1e-4
    assert info["features_output"]["name"] == "features" and info["check"]["onnx_features_max_rel_diff"] <= 1e-4
    assert info["source"]["kind"] == "train" and info["source"]["path"] == str(source.resolve())
    assert set(info["versions"]) >= {"raycxr", "torch", "torchvision"} and info["training_data_sha256"] is None
    assert info["copied"] == ["metrics.json"] and (out / "metrics.json").is_file()
    assert {p.name for p in out.iterdir()} == {"bundle.json", "model.onnx", "model.ts", "metrics.json"}

    shutil.rmtree(source)  # the bundle needs nothing of the folder it came from
    reference = predict_files(load_model(trained_run), pngs)
    for runtime in ("onnx", "torchscript"):
        loaded = load_model(out, runtime=runtime)
        assert loaded.kind == "bundle" and loaded.runtime == runtime and loaded.classes == reference.classes
        assert loaded.resize == "pad"  # predict decodes as the model was trained
        result = predict_files(loaded, pngs, batch_size=4)  # batches of 4 and 2: the batch axis is dynamic
        assert result.files == reference.files
        np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-4, rtol=0)
        np.testing.assert_array_equal(result.predicted, reference.predicted)
        # the bundle gives its feature layer too: the same feature OOD score, flags and rule as the PyTorch model
        assert result.ood_rule == reference.ood_rule and reference.ood_rule.startswith("mahalanobis")
        np.testing.assert_allclose(result.ood_score, reference.ood_score, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(result.ood, reference.ood)
    capsys.readouterr()
    assert predict_main([str(out), str(pngs[0].parent), "--out", str(out.parent / "p.csv")]) == 0
    printed = capsys.readouterr().out
    assert "onnx on cpu" in printed and "mahalanobis" in printed  # onnxruntime by default


def test_export_prints_the_differences_and_refuses_to_overwrite(
    bundle: tuple[Path, Path], trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = bundle
    assert _exit_code(export_main, [str(trained_run), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a bundle already" in err and "--force" in err
    assert _exit_code(export_main, [str(out), str(out.parent / "again")]) == 2
    assert "is a bundle already" in capsys.readouterr().err


def test_bundle_of_a_binary_model_keeps_its_threshold_and_one_logit(
    binary_run: Path, pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _exit_code(export_main, [str(binary_run), str(tmp_path / "bundle")])
    out = capsys.readouterr().out
    assert code == 0
    assert "ONNX vs PyTorch (onnxruntime, 4 synthetic phantoms" in out and "TorchScript vs PyTorch" in out
    info = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    expected = load_model(binary_run)
    assert info["binary"] and info["output"]["shape"] == ["batch", 1]
    assert info["decision"]["rule"] == "youden" and info["decision"]["threshold"] == pytest.approx(expected.threshold)
    assert info["decision"]["temperature"] == pytest.approx(expected.temperature)
    bundled = predict_files(load_model(tmp_path / "bundle"), pngs)
    reference = predict_files(expected, pngs)
    np.testing.assert_allclose(bundled.probabilities, reference.probabilities, atol=1e-4, rtol=0)
    np.testing.assert_allclose(bundled.probabilities.sum(1), 1.0, atol=1e-6)


def test_bundle_applies_its_temperature(
    bundle: tuple[Path, Path], trained_run: Path, pngs: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle[0], copy)
    info = json.loads((copy / "bundle.json").read_text())
    (copy / "bundle.json").write_text(json.dumps(info | {"decision": info["decision"] | {"temperature": 2.0}}))
    loaded = load_model(copy)
    assert loaded.temperature == 2.0
    images = np.stack([read_image(p, loaded.image_size) for p in pngs])
    with torch.no_grad():
        expected = torch.softmax(load_model(trained_run).model(torch.from_numpy(images)) / 2.0, dim=1).numpy()
    result = predict_files(loaded, pngs)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(result.predicted, expected.argmax(1))


def test_a_model_torchscript_cannot_trace_is_exported_as_onnx_only(
    tmp_path: Path, pngs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """COVID-Lite: kornia's CLAHE cannot be traced; the export says so, and ONNX still predicts."""
    cfg = TrainConfig(backbone="covidlite", weights="none", image_size=32, head="gap", loss="ce")
    classes = ("COVID", "Normal", "Pneumonia")
    model = model_for(cfg, len(classes)).eval()
    source = tmp_path / "covidlite"  # saved as python -m raycxr.train saves its best.pt
    source.mkdir()
    checkpoint = {
        "model": model.state_dict(),
        "classes": list(classes),
        "epoch": 0,
        "config": cfg.model_dump(mode="json"),
    }
    torch.save(checkpoint, source / "best.pt")
    out = tmp_path / "bundle"
    assert _exit_code(export_main, [str(source), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TorchScript: not exported (ONNX only): " in printed and "fixed batch size 1" in printed
    info = json.loads((out / "bundle.json").read_text())
    assert info["files"] == {"onnx": "model.onnx", "torchscript": None} and info["onnx_batch"] == 1
    assert info["torchscript_error"] and not (out / "model.ts").exists()
    assert info["check"]["onnx_max_abs_diff"] <= 1e-4

    reference = predict_files(load_model(source), pngs)
    bundled = predict_files(load_model(out), pngs, batch_size=4)
    np.testing.assert_allclose(bundled.probabilities, reference.probabilities, atol=1e-4, rtol=0)
    assert _exit_code(predict_main, [str(out), str(pngs[0]), "--runtime", "torchscript"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the bundle has no torchscript model" in err
