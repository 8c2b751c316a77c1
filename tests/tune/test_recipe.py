"""``search_spaces/recipe.yaml``: a recipe search runs end to end (tune → cv → predict), the paper's recipe first."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from raycxr.cv import CVSettings, run_cv
from raycxr.experiment import TRIALS_FILE
from raycxr.predict import find_images, load_model, predict_files
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow

#: The paper's recipe: what --enqueue paper evaluates first.
PAPER_RECIPE = {"augment": "none", "optimizer": "adam", "schedule": "constant", "weight_decay": 0.0,
                "label_smoothing": 0.0, "ema_decay": 0.0, "lr": 1e-4}  # fmt: skip


def test_a_recipe_search_runs_end_to_end(tiny_dataset: Path, tmp_path: Path) -> None:
    settings = TuneSettings(
        space="recipe", data=tiny_dataset, storage=str(tmp_path), name="recipe", num_samples=3, enqueue="paper",
        seed=1, set=[*FAST, "epochs=2", "weights=none"],
    )  # fmt: skip
    result = run_search(settings)
    assert (result.trials["status"] == "completed").all(), result.trials[["status", "error"]]
    experiment = tmp_path / "recipe"
    table = pd.read_csv(experiment / TRIALS_FILE, dtype={"trial_id": str})
    configs = [json.loads(text) for text in table["train_config"]]
    # The paper's recipe is one of the trials; every trial's recorded configuration is what it searched.
    assert any(all(c[k] == v for k, v in PAPER_RECIPE.items()) for c in configs)
    for row, config in zip(table.to_dict("records"), configs):
        for name in ("augment", "optimizer", "schedule", "weight_decay", "label_smoothing", "ema_decay", "lr"):
            assert (
                config[name] == pytest.approx(row[f"param_{name}"])
                if isinstance(config[name], float)
                else (config[name] == row[f"param_{name}"])
            )
    assert len({(c["augment"], c["optimizer"], c["schedule"]) for c in configs}) > 1  # the recipe was searched

    cv = run_cv(CVSettings(experiment=experiment, top_k=1, baselines="paper", folds=2, bootstrap=100))
    selection = json.loads((experiment / "cv" / "selection.json").read_text())
    assert selection["selected"] == cv.best
    loaded = load_model(experiment / "cv")
    recorded = json.loads((experiment / "cv" / "refits" / cv.best / "refit.json").read_text())
    assert loaded.config.augment == recorded["train_config"]["augment"]
    files = find_images([tiny_dataset / "Normal"])[:4]
    predicted = predict_files(loaded, files, progress=False)
    assert len(predicted.files) == 4 and predicted.probabilities.shape == (4, 4)
