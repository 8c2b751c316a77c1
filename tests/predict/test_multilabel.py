"""Multi-label models through predict and export: a search's best trial, an ONNX / TorchScript bundle of it,
a CV refit of it; sigmoid probabilities, per-label 0/1 by the validation thresholds, findings, Grad-CAM per
positive label, and the bundle predicting what the experiment predicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from raycxr.evaluation import DecisionRule
from raycxr.experiment import BEST_FILE, CV_DIR, MODEL_FILE, REFIT_FILE, SELECTION_FILE, Experiment
from raycxr.export.__main__ import main as export_main
from raycxr.predict import ModelError, Predictions, augmented_views, load_model, predict_files, run_model
from raycxr.predict._model import stored_rule
from tests.predict.conftest import NIH_LABELS, run_predict

OOD = ["ood", "ood_score", "ood_reason"]


def _columns(labels: tuple[str, ...]) -> list[str]:
    return ["file", *(f"p_{name}" for name in labels), *labels, "findings", *OOD]


def _expected(loaded, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid of the network's own logits, and the 0/1 of each label's validation threshold."""
    from raycxr.data import read_image

    images = np.stack([read_image(f, loaded.image_size, loaded.interpolation, loaded.resize) for f in files])
    proba = torch.sigmoid(run_model(loaded, images)).numpy()
    return proba, (proba >= np.asarray(loaded.rule.thresholds)).astype(np.int64)


@pytest.fixture(scope="module")
def bundle(multilabel_experiment: Path, varied_pngs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml-export") / "bundle"
    try:
        code = export_main([str(multilabel_experiment), str(out), "--sample", *map(str, varied_pngs[:4])])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    return out


@pytest.mark.slow
def test_predict_a_multilabel_experiment(
    multilabel_experiment: Path, varied_pngs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_model(multilabel_experiment)
    assert loaded.multilabel and loaded.classes == NIH_LABELS and loaded.temperature is None
    out, saliency = tmp_path / "p.csv", tmp_path / "cams"
    argv = [str(multilabel_experiment), *map(str, varied_pngs), "--out", str(out), "--saliency", str(saliency)]
    code, printed, err = run_predict(argv, capsys)
    assert code == 0, err
    assert "decision: per-label thresholds (max F1 on validation): Atelectasis" in printed
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == _columns(NIH_LABELS)
    proba, positive = _expected(loaded, varied_pngs)
    margin = np.abs(proba - np.asarray(loaded.rule.thresholds)).min()
    assert margin > 1e-5, "a probability at its threshold: the 0/1 comparisons below would be fragile"
    np.testing.assert_allclose(table[[f"p_{n}" for n in NIH_LABELS]].to_numpy(float), proba, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(table[list(NIH_LABELS)].to_numpy(), positive)
    findings = ["|".join(n for n, on in zip(NIH_LABELS, row) if on) for row in positive]
    assert table["findings"].tolist() == findings
    counts = ", ".join(f"{n} {int(c)}" for n, c in zip(NIH_LABELS, positive.sum(axis=0)))
    none = int((positive.sum(axis=1) == 0).sum())
    assert f"{len(varied_pngs)} image(s) predicted: positive {counts}; no finding {none}; " in printed
    assert table["ood_score"].notna().all() and "mahalanobis" in printed  # one feature mean, no classes
    # Grad-CAM: one overlay per predicted-positive label, the most probable label's when none is
    expected_cams = set()
    for path, row, p in zip(varied_pngs, positive, proba):
        chosen = np.flatnonzero(row) if row.any() else [int(np.argmax(p))]
        expected_cams |= {f"{path.stem}_{NIH_LABELS[k]}.png" for k in chosen}
    assert {p.name for p in saliency.iterdir()} == expected_cams

    # --trial names a trial; --tta averages the logits of each image and its augmented views
    trial = json.loads((multilabel_experiment / BEST_FILE).read_text())["trial_id"]
    assert load_model(multilabel_experiment, str(trial)).source.startswith(f"trial {trial} ")
    tta = predict_files(loaded, varied_pngs[:3], tta=2)
    images = np.stack([_decoded(loaded, f) for f in varied_pngs[:3]])
    views = [images, *augmented_views(images, 2)]
    mean = torch.stack([run_model(loaded, v) for v in views]).mean(0)
    np.testing.assert_allclose(tta.probabilities, torch.sigmoid(mean).numpy(), atol=1e-6, rtol=0)


def _decoded(loaded, path: Path) -> np.ndarray:
    from raycxr.data import read_image

    return read_image(path, loaded.image_size, loaded.interpolation, loaded.resize)


@pytest.mark.slow
def test_a_bundle_predicts_what_the_experiment_predicts(
    bundle: Path, multilabel_experiment: Path, varied_pngs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["multilabel"] is True and info["classes"] == list(NIH_LABELS) and not info["binary"]
    rule = DecisionRule.from_dict(info["decision"])
    assert rule.rule == "thresholds" and rule.thresholds == load_model(multilabel_experiment).rule.thresholds
    assert info["output"]["shape"] == ["batch", len(NIH_LABELS)] and "sigmoid" in info["output"]["probabilities"]
    assert info["features_output"]["name"] == "features" and info["files"]["torchscript"] == "model.ts"
    assert info["source"]["kind"] == "experiment" and info["training_data_sha256"]

    reference = predict_files(load_model(multilabel_experiment), varied_pngs)
    for runtime in ("onnx", "torchscript"):
        loaded = load_model(bundle, runtime=runtime)
        assert loaded.multilabel and loaded.classes == NIH_LABELS
        result = predict_files(loaded, varied_pngs, batch_size=4)
        assert result.multilabel and result.files == reference.files
        np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(result.predicted, reference.predicted)
        assert result.frame()["findings"].tolist() == reference.frame()["findings"].tolist()
        assert result.ood_rule == reference.ood_rule  # the bundle gives its feature layer too
        np.testing.assert_allclose(result.ood_score, reference.ood_score, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(result.ood, reference.ood)
    out = bundle.parent / "p.csv"
    code, printed, err = run_predict([str(bundle), *map(str, varied_pngs), "--out", str(out)], capsys)
    assert code == 0 and "onnx on cpu" in printed, err
    assert list(pd.read_csv(out).columns) == _columns(NIH_LABELS)


@pytest.mark.slow
def test_a_multilabel_cv_refit_loads_with_its_thresholds(multilabel_experiment: Path, tmp_path: Path) -> None:
    """The CV's multi-label refit record (``refit.json`` with ``multilabel: true`` and a thresholds rule), as the
    CV will write it: made here from the best trial's weights, since the CV does not refit multi-label models yet."""
    experiment = tmp_path / "experiment"
    shutil.copytree(multilabel_experiment, experiment)
    best = load_model(experiment)
    state = torch.load(Experiment(experiment).latest_state(best.details["trial_id"]), weights_only=True)
    refit = experiment / CV_DIR / "refits" / "bce"
    refit.mkdir(parents=True)
    torch.save(state["best_model"], refit / MODEL_FILE)
    record = {"train_config": best.config.model_dump(mode="json"), "classes": list(NIH_LABELS), "multilabel": True,
              "decision": best.rule.to_dict(), "best_epoch": 1, "test": {"auc_ovr_macro": {"value": 0.5}}}  # fmt: skip
    (refit / REFIT_FILE).write_text(json.dumps(record))
    selection = {"selected": "bce", "evaluated": ["bce"], "refits": {"bce": "refits/bce"}, "test_set": True}
    (experiment / CV_DIR / SELECTION_FILE).write_text(json.dumps(selection))
    loaded = load_model(experiment / CV_DIR)
    assert loaded.kind == "cv" and loaded.multilabel and loaded.rule == best.rule
    assert "test AUC 0.5000" in loaded.source
    images = np.stack([np.full((best.image_size,) * 2, v, np.uint8) for v in (0, 128)])
    torch.testing.assert_close(run_model(loaded, images), run_model(best, images))
    record["decision"] = DecisionRule(NIH_LABELS).to_dict()  # an arg max rule for a multi-label record
    (refit / REFIT_FILE).write_text(json.dumps(record))
    with pytest.raises(ModelError, match="a multi-label model needs the per-label thresholds rule, got rule 'argmax'"):
        load_model(experiment / CV_DIR)


def test_a_multilabel_record_needs_its_thresholds() -> None:
    where = Path("refit")
    with pytest.raises(ModelError, match=r"no decision rule \(per-label thresholds\) is stored with these multi-label"):
        stored_rule(None, NIH_LABELS, where, "run the CV again", multilabel=True)
    assert stored_rule(None, NIH_LABELS, where, "run the CV again").rule == "argmax"  # single-label: as before
    rule = DecisionRule(NIH_LABELS, "thresholds", thresholds=(0.2, 0.3, 0.4, 0.5))
    assert stored_rule(rule.to_dict(), NIH_LABELS, where, "", multilabel=True) == rule


def test_multilabel_predictions_frame_and_summary() -> None:
    proba = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.1]], dtype=np.float32)
    predicted = np.array([[1, 0, 1], [0, 0, 0]])
    result = Predictions(["a.png", "b.png"], proba, predicted, ("Edema", "Mass", "Nodule"), multilabel=True)
    table = result.frame()
    assert list(table.columns) == ["file", "p_Edema", "p_Mass", "p_Nodule", "Edema", "Mass", "Nodule", "findings"]
    assert table["findings"].tolist() == ["Edema|Nodule", ""] and table["Nodule"].tolist() == [1, 0]
    assert result.summary() == "2 image(s) predicted: positive Edema 1, Mass 0, Nodule 1; no finding 1"
    empty = Predictions([], np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), ("A", "B", "C"), multilabel=True)
    assert list(empty.frame().columns)[-4:] == ["findings", *OOD] and empty.summary().startswith("0 image(s) predicted")
