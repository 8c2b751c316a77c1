"""The multi-label final test on synthetic predictions: patient-level intervals, per-label table, comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.cv._final import Predictions
from raycxr.cv._final_multilabel import final_test_multilabel
from raycxr.cv._report import _final_section, folds_table
from raycxr.cv._run import FoldRun
from raycxr.evaluation import DecisionRule, multilabel_metrics
from raycxr.experiment import PER_LABEL_TABLE, test_file

LABELS = ("Edema", "Mass", "Nodule")


def _predictions(config: str, noise: float, y: np.ndarray, rows: np.ndarray, seed: int) -> Predictions:
    rng = np.random.default_rng(seed)
    proba = np.clip(np.nan_to_num(y, nan=0.5) * (1 - noise) + rng.random(y.shape) * noise, 0, 1)
    rule = DecisionRule(LABELS, "thresholds", thresholds=(0.5, 0.4, 0.6))
    return Predictions(config, y[:10], proba[:10], rows, y, proba, rule, test_ood_flagged=np.zeros(len(y), bool))


def test_final_test_of_a_multilabel_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 75
    y = (rng.random((n, 3)) < 0.4).astype(float)
    y[rng.random((n, 3)) < 0.1] = np.nan
    rows = np.arange(99, 99 + n)
    groups = np.array([f"p{i // 3}" for i in range(200)], dtype=object)  # 25 test patients, 3 images each
    good, bad = _predictions("top1-a", 0.7, y, rows, 1), _predictions("bce", 0.95, y, rows, 2)
    final = final_test_multilabel([good, bad], LABELS, groups, "bce", "top1-a", tmp_path, n_boot=100, seed=0,
                                  drawn_by="groups", leaked=rows[:3], group_name="patient")  # fmt: skip
    metrics = pd.read_csv(tmp_path / test_file("metrics")).set_index(["config", "metric"])
    row = metrics.loc[("top1-a", "auc_ovr_macro")]
    assert row["value"] == multilabel_metrics(y, good.test_proba, LABELS, good.rule)["auc_ovr_macro"]
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["unit"] == "patient (25 patients)"
    assert {f"{m}/{c}" for m in ("auc", "ap", "f1") for c in LABELS} < set(metrics.loc["bce"].index)
    per_label = pd.read_csv(tmp_path / test_file(PER_LABEL_TABLE))
    assert list(per_label["label"]) == [*LABELS, *LABELS] and per_label["ece"].between(0, 1).all()
    assert list(per_label["threshold"][:3]) == [0.5, 0.4, 0.6]
    comparisons = pd.read_csv(tmp_path / test_file("comparisons"))
    assert list(comparisons["config"]) == ["top1-a"] and comparisons["difference"].item() > 0
    assert comparisons["test"].item() == "paired bootstrap (patient (25 patients), 100 resamples)"
    leak_free = pd.read_csv(tmp_path / test_file("leak_free"))
    assert set(leak_free["metric"]) <= {"auc_ovr_macro", "ap_macro", "f1_macro", "precision_macro",
                                        "recall_macro", "f1_micro", "ap_micro"}  # fmt: skip
    lines = "\n".join(_final_section(final, {"reference": "bce"}))
    assert "### Per label (test)" in lines and "patient (25 patients), 100 resamples" in lines
    assert "(selected)" in lines and "Against `bce`" in lines

    few = final_test_multilabel([good], LABELS, groups, "bce", "top1-a", tmp_path, n_boot=50, drawn_by="groups",
                                group_name="patient")  # fmt: skip
    assert few.metrics["unit"].iloc[0] == "patient (25 patients)" and not len(few.comparisons)
    images = final_test_multilabel([good], LABELS, None, "bce", "top1-a", tmp_path, n_boot=50)
    assert images.metrics["unit"].iloc[0] == "image"


def test_fold_table_of_a_multilabel_task() -> None:
    y = np.array([[1, 0, 1], [0, 1, np.nan], [1, 1, 0], [0, 0, 1]], dtype=float)
    p = np.array([[0.9, 0.2, 0.7], [0.1, 0.8, 0.5], [0.6, 0.7, 0.2], [0.3, 0.1, 0.9]])
    metrics = {"test": multilabel_metrics(y, p, LABELS)}
    run = FoldRun("top1-a", 0, False, "", metrics, None, pd.DataFrame())
    table = folds_table([run], LABELS, multilabel=True).set_index("metric")["value"]
    assert table["auc_ovr_macro"] == metrics["test"]["auc_ovr_macro"] and table["auc/Edema"] == 1.0
    assert "accuracy" not in table and not any(k.startswith("sensitivity_") for k in table.index)
