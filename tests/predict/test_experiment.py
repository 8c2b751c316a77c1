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
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5, rtol=0)

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


def test_cv_folder_gives_the_selected_trial_with_its_temperature(experiment: Path, pngs: list[Path]) -> None:
    from raycxr.cv import CVSettings, run_cv

    run_cv(CVSettings(experiment=experiment, top_k=1, baselines="none", folds=2, bootstrap=100))
    cv = experiment / "cv"
    best = json.loads((experiment / BEST_FILE).read_text())
    loaded = load_model(cv)
    assert loaded.kind == "cv" and loaded.details["cv_selected"] == f"top1-{best['trial_id']}"
    assert loaded.details["trial_id"] == best["trial_id"] and loaded.threshold is None  # four classes
    calibration = pd.read_csv(cv / "test_calibration.csv").set_index("config")
    assert loaded.temperature == pytest.approx(calibration.loc[loaded.details["cv_selected"], "temperature"])
    images = np.stack([read_image(p, 32) for p in pngs])
    with torch.no_grad():
        logits = load_model(experiment).model(torch.from_numpy(images))
    expected = torch.softmax(logits / loaded.temperature, dim=1).numpy()
    np.testing.assert_allclose(predict_files(loaded, pngs).probabilities, expected, atol=1e-5, rtol=0)
