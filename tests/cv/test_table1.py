"""The paper's Table 1 under one protocol: a search over the model zoo, then every Table 1 system on the same folds."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from raycxr.cv import PUBLISHED_TABLE1, TABLE1, CVSettings, run_cv
from raycxr.tune import TuneSettings, run_search

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-trial grid search over search_spaces/model_zoo.yaml on the built-in demo data (random weights: offline).

    Seed 1 draws MobileNetV3-Large and -Small (seed 3 draws Inception-V3 at 299 px: minutes on 2 CPUs).
    """
    root = tmp_path_factory.mktemp("zoo")
    settings = TuneSettings(
        space="model_zoo", storage=str(root), name="zoo", num_samples=2, seed=1,
        set=["weights=none", "epochs=1", "patience=1", "batch_size=16"],
    )  # fmt: skip
    result = run_search(settings)
    assert not result.interrupted
    return root / "zoo"


def test_a_search_over_the_model_zoo_trains_each_drawn_backbone(zoo: Path) -> None:
    trials = pd.read_csv(zoo / "trials.csv")
    assert len(trials) == 2 and set(trials["status"]) == {"completed"}
    assert trials["best_val_f1_macro"].notna().all()
    record = json.loads((zoo / "raycxr.json").read_text())
    assert "model" in record["space"]["params"]
    assert trials["param_model"].nunique() >= 1


def test_table1_baselines_on_the_same_folds(zoo: Path) -> None:
    result = run_cv(
        CVSettings(
            experiment=zoo, top_k=0, baselines="table1", folds=2, bootstrap=100,
            set=["weights=none", "image_size=80", "epochs=1", "patience=1"],
        )
    )  # fmt: skip
    folds = pd.read_csv(zoo / "cv" / "folds.csv")
    assert set(folds["config"]) == set(TABLE1)
    assert not [r for r in result.runs if r.error], [r.error for r in result.runs if r.error]
    report = result.report.read_text()
    assert "### The paper's Table 1 under one protocol" in report
    table1 = report.split("### The paper's Table 1 under one protocol")[1].split("\n\n###")[0].splitlines()
    for name, published in PUBLISHED_TABLE1.items():
        line = next(line for line in table1 if line.startswith(f"| {name} |"))
        assert f"{published['f1_macro']:.2f} / {published['accuracy']:.2f}" in line
    assert any(line.startswith("| mobile-freeze-net-attention |") and "not a row of Table 1" in line for line in table1)
    # Grad-CAM of the chosen configuration's refit model on test images, with the shortcut check.
    assert "## Saliency (Grad-CAM)" in report and "### Shortcut check" in report
    shortcuts = pd.read_csv(zoo / "cv" / "saliency_shortcuts.csv")
    assert len(shortcuts) == 4 and {"border_mass", "corner_mass", "flagged"} <= set(shortcuts.columns)


def _online() -> bool:
    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_unknown_baseline_and_offline_imagenet_fail_before_training(zoo: Path) -> None:
    with pytest.raises(ValueError, match="unknown baseline 'table2'; expected a set"):
        CVSettings(experiment=zoo, baselines="table2")
    if _online():
        pytest.skip("this machine can download torchvision's Inception-V3 weights: the offline error cannot happen")
    with pytest.raises(ValueError, match=r"configuration 'inception_v3-ft100': .*backbone 'inception_v3'") as error:
        run_cv(CVSettings(experiment=zoo, top_k=0, baselines="inception_v3-ft100", folds=2))
    assert "--weights FILE" in str(error.value)
