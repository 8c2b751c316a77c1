"""Predict and export from a real search experiment (local Ray, 2 trials): its best trial, ``--trial``, the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
import torch

from raycxr.data import content_hash, index_folder, read_image
from raycxr.evaluation import confusion_counts, f1_from_counts
from raycxr.experiment import BEST_FILE, TRIALS_FILE
from raycxr.export.__main__ import main as export_main
from raycxr.predict import ModelError, latest_state, load_model, predict_files
from raycxr.train import evaluate_state
from raycxr.tune import TuneSettings, run_search

pytestmark = pytest.mark.slow

SPACE = """
description: two quick trials for the predict tests
fixed: {backbone: resnet18, weights: none, head: gap, loss: ce, epochs: 1, batch_size: 16}
params:
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


@pytest.fixture(scope="module")
def experiment(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiment")
    space = root / "space.yaml"
    space.write_text(SPACE)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        settings = TuneSettings(
            space=str(space),
            data=tiny_dataset,
            storage=str(root / "storage"),
            name="exp",
            num_samples=2,
            seed=0,
            set=["image_size=32", "folds=4", "split=stratified"],
        )
        run_search(settings)
    finally:
        ray.shutdown()
    return root / "storage" / "exp"


def test_experiment_best_trial_and_trial_option(experiment: Path, tiny_dataset: Path) -> None:
    best = json.loads((experiment / BEST_FILE).read_text())
    loaded = load_model(experiment)
    assert loaded.kind == "experiment" and loaded.details["trial_id"] == best["trial_id"]
    assert loaded.classes == ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
    assert loaded.image_size == 32 and loaded.config.backbone == "resnet18"
    assert loaded.details["splits_sha256"] == content_hash(experiment / "splits.csv")

    # The probabilities are those of the trial's best_model weights, as evaluate_state gives them.
    state = torch.load(latest_state(experiment, best["trial_id"]), weights_only=True)["best_model"]
    index = index_folder(tiny_dataset)
    rows = np.arange(3, len(index), 11)
    images = np.stack([read_image(index.paths[r], 32) for r in rows])
    cfg = loaded.config.model_copy(update={"device": "cpu"})
    _, expected = evaluate_state(cfg, state, images, index.labels[rows], index.classes, np.arange(len(rows)))
    result = predict_files(loaded, [index.paths[r] for r in rows])
    np.testing.assert_allclose(result.probabilities, loaded.rule.calibrate(expected), atol=1e-5, rtol=0)
    # The configuration is the one the trial recorded when it started (nothing rebuilds it).
    recorded = json.loads((experiment / f"trial_{best['trial_id']}" / "train_config.json").read_text())
    assert recorded["lr"] == loaded.config.lr and recorded["backbone"] == "resnet18"

    trials = pd.read_csv(experiment / TRIALS_FILE, dtype={"trial_id": str})
    other = next(t for t in trials["trial_id"] if t != best["trial_id"])
    chosen = load_model(experiment, trial=other)
    assert chosen.details["trial_id"] == other and chosen.config.lr != loaded.config.lr
    with pytest.raises(ModelError, match="no trial 'nope'"):
        load_model(experiment, trial="nope")


def test_experiment_bundle_predicts_as_the_experiment(
    experiment: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert export_main([str(experiment), str(out)]) == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["training_data_sha256"] == content_hash(experiment / "splits.csv")
    assert info["source"]["kind"] == "experiment" and info["source"]["trial_id"]
    assert "best_config.json" in info["copied"] and (out / "best_config.json").is_file()
    files = sorted((tiny_dataset / "COVID" / "images").glob("*.png"))[:5]
    reference = predict_files(load_model(experiment), files)
    bundled = predict_files(load_model(out), files)
    np.testing.assert_allclose(bundled.probabilities, reference.probabilities, atol=1e-4, rtol=0)


def _predict_test_set(cv: Path, config: str, tiny_dataset: Path, **load) -> tuple[dict[str, float], object]:
    """``predict`` on the CV's test images: its accuracy and macro-F1, computed from predict's classes."""
    files = pd.read_csv(cv / "rows.csv").query("fold == 'refit' and part == 'test'")["file"].tolist()
    index = index_folder(tiny_dataset)
    label_of = {p.relative_to(tiny_dataset).as_posix(): int(y) for p, y in zip(index.paths, index.labels)}
    loaded = load_model(cv, **load)
    result = predict_files(loaded, [tiny_dataset / f for f in files])
    assert not result.failures and loaded.details["cv_config"] == config
    y = np.array([label_of[f] for f in files])
    k = len(loaded.classes)
    return {"accuracy": float(np.mean(result.predicted == y)),
            "f1_macro": f1_from_counts(confusion_counts(y, result.predicted, k))}, loaded  # fmt: skip


def _table(cv: Path, config: str) -> dict[str, float]:
    metrics = pd.read_csv(cv / "test_metrics.csv").query("config == @config").set_index("metric")["value"]
    return {"accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]}


def test_cv_folder_serves_the_refit_its_test_table_scored(
    experiment: Path, tiny_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from raycxr.cv import CVSettings, run_cv

    run_cv(CVSettings(experiment=experiment, top_k=1, baselines="none", folds=2, bootstrap=100))
    cv = experiment / "cv"
    best = json.loads((experiment / BEST_FILE).read_text())
    selected = f"top1-{best['trial_id']}"
    assert json.loads((cv / "selection.json").read_text())["selected"] == selected
    got, loaded = _predict_test_set(cv, selected, tiny_dataset)
    assert got == pytest.approx(_table(cv, selected), abs=1e-12)  # the same classes as the test table
    # The weights are the refit's (kept in cv/refits/), not the search trial's.
    refit = torch.load(cv / "refits" / selected / "model.pt", weights_only=True)
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, refit[name]), name
    # On CPU the refit (same dev split, seed and configuration) repeats the trial's training exactly: the
    # weights and decision rule loaded from the experiment folder and from cv/ are the same, and so is predict.
    trial = load_model(experiment)
    assert all(torch.equal(trial.model.state_dict()[name], tensor) for name, tensor in refit.items())
    assert trial.rule == loaded.rule
    files = sorted((tiny_dataset / "Viral Pneumonia" / "images").glob("*.png"))[:8]
    from_trial, from_cv = predict_files(trial, files), predict_files(loaded, files)
    np.testing.assert_array_equal(from_trial.probabilities, from_cv.probabilities)
    np.testing.assert_array_equal(from_trial.predicted, from_cv.predicted)
    record = json.loads((cv / "refits" / selected / "refit.json").read_text())
    assert loaded.rule.to_dict() == record["decision"] and record["data_sha256"] == content_hash(
        experiment / "splits.csv"
    )
    assert f"configuration {selected} (CV-selected), refit on dev" in loaded.source
    assert "test macro-F1" in loaded.source and "[" in loaded.source  # the report's CI
    with pytest.raises(ModelError, match=f"--config 'nope': the CV evaluated {selected}"):
        load_model(cv, config="nope")


def test_cv_selecting_a_baseline_is_what_predict_and_export_serve(
    experiment: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The paper's configuration wins a CV it alone runs: its refit, trained only inside the CV, is served."""
    import shutil

    from raycxr.cv import CVSettings, run_cv

    copy = tmp_path / "exp"
    shutil.copytree(experiment, copy, ignore=shutil.ignore_patterns("cv"))
    settings = CVSettings(experiment=copy, top_k=0, baselines="paper", folds=2, bootstrap=100,
                          set=["weights=none", "epochs=1", "image_size=32"], keep_refits="selected")  # fmt: skip
    run_cv(settings)
    cv = copy / "cv"
    got, loaded = _predict_test_set(cv, "paper", tiny_dataset)
    assert got == pytest.approx(_table(cv, "paper"), abs=1e-12)
    assert loaded.config.backbone == "mobilenet_v2" and loaded.config.loss == "attention"
    out = tmp_path / "bundle"
    assert export_main([str(cv), str(out)]) == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["source"]["cv_config"] == "paper" and info["decision"] == loaded.rule.to_dict()
    assert info["source"]["test"]["f1_macro"]["value"] == pytest.approx(_table(cv, "paper")["f1_macro"])
    files = sorted((tiny_dataset / "Normal" / "images").glob("*.png"))[:6]
    np.testing.assert_allclose(
        predict_files(load_model(out), files).probabilities, predict_files(loaded, files).probabilities, atol=1e-4
    )
    (cv / "selection.json").unlink()  # a cv/ folder of an older raycxr
    with pytest.raises(ModelError, match=r"run it again: python -m raycxr\.cv") as error:
        load_model(cv)
    assert "\n" not in str(error.value)
