"""``python -m raycxr.cv`` on a multi-label search (an NIH replica, its official test split, whole patients).

One search of two trials, then one CV: the best trial and the ``bce`` baseline, two folds inside dev and a
refit on dev scored on the 20 test patients. The fold table, the selection by mean CV macro AUC, the final
test's macro and per-label rows with patient-level intervals, the paired comparison, the refits and the
report are checked, and that no patient straddles a fold's train / validation / test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import ray

from raycxr.cv.__main__ import main as cv_main
from raycxr.evaluation import MULTILABEL_METRICS, DecisionRule
from raycxr.experiment import (
    COMPARISONS_FILE,
    CV_DIR,
    CV_ROWS_FILE,
    FOLDS_FILE,
    MODEL_FILE,
    PER_LABEL_TABLE,
    REFIT_FILE,
    REFITS_DIR,
    REPORT_FILE,
    SELECTION_FILE,
    SPLITS_FILE,
    SUMMARY_FILE,
    test_file,
)
from raycxr.predict.__main__ import main as predict_main
from tests.data.replicas import nih_replica
from tests.tune.test_multilabel import _search

TEST_PATIENTS = 20  # a patient bootstrap needs at least MIN_GROUPS = 20 patients


def _labels(root: Path) -> tuple[str, ...]:
    """Four findings, each positive in test and in training (as tests/tune/test_multilabel.py picks them)."""
    test_images = set((root / "test_list.txt").read_text().split())
    entries = pd.read_csv(root / "Data_Entry_2017.csv", index_col=False)
    in_test = entries["Image Index"].isin(test_images)
    findings = entries["Finding Labels"].str.get_dummies("|").drop(columns="No Finding")
    seen = [c for c in findings.columns if findings.loc[in_test, c].sum() > 2 and findings.loc[~in_test, c].sum() > 2]
    return tuple(seen[:4])


def _patient(file: str) -> str:
    return Path(file).name[:8]  # 00000012_001.png: patient 12


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cv_main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and "\n" not in err
    assert not ray.is_initialized()
    return err.removeprefix("error: ")


def _check_patients_apart(experiment: Path) -> None:
    splits = pd.read_csv(experiment / SPLITS_FILE)
    test = {_patient(f) for f in splits.loc[splits["role"] == "test", "file"]}
    assert len(test) == TEST_PATIENTS
    rows = pd.read_csv(experiment / CV_DIR / CV_ROWS_FILE, dtype={"fold": str})
    assert set(rows["fold"]) == {"0", "1", "refit"}
    fold_tests = []
    for fold, part in rows.groupby("fold"):
        patients = {name: {_patient(f) for f in part.loc[part["part"] == name, "file"]} for name in ("train", "val")}
        patients["test"] = {_patient(f) for f in part.loc[part["part"] == "test", "file"]}
        assert patients["train"] and patients["val"] and patients["test"]
        assert not patients["train"] & patients["val"] and not patients["train"] & patients["test"]
        assert not patients["val"] & patients["test"]
        if fold == "refit":
            assert patients["test"] == test  # the untouched official test set
        else:
            assert not (patients["train"] | patients["val"] | patients["test"]) & test  # folds inside dev
            fold_tests.append(patients["test"])
    assert not fold_tests[0] & fold_tests[1]


@pytest.mark.slow
def test_cv_of_a_multilabel_search(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = nih_replica(tmp_path / "nih", patients=24 + TEST_PATIENTS, test_patients=TEST_PATIENTS)
    labels = _labels(root)
    assert len(labels) == 4
    experiment = _search(root, tmp_path / "runs", "nih", "nih", "--set", f"classes={','.join(labels)}")
    base = [str(experiment), "--top-k", "1", "--folds", "2", "--bootstrap", "200", "--max-concurrent", "2"]
    assert _error(capsys, [*base, "--baselines", "paper"]) == (
        "--baselines: 'paper' trains with loss 'attention', which is single-label; this experiment is multi-label: "
        "use --baselines none or bce."
    )
    capsys.readouterr()
    cv_main([*base, "--baselines", "bce"])
    assert "Selected by mean CV macro AUC inside dev" in capsys.readouterr().out
    cv = experiment / CV_DIR

    folds = pd.read_csv(cv / FOLDS_FILE)
    configs = list(dict.fromkeys(folds["config"]))
    assert len(configs) == 2 and configs[0].startswith("top1-") and configs[1] == "bce"
    assert set(folds["fold"]) == {0, 1}
    metrics = set(folds["metric"])
    assert set(MULTILABEL_METRICS) <= metrics and {f"auc/{c}" for c in labels} <= metrics
    assert "accuracy" not in metrics and not any(m.startswith("sensitivity_") for m in metrics)
    summary = pd.read_csv(cv / SUMMARY_FILE)
    auc = summary[summary["metric"] == "auc_ovr_macro"].set_index("config")["mean"]
    selection = json.loads((cv / SELECTION_FILE).read_text())
    assert selection["selected"] == auc.idxmax() and "macro AUC" in selection["selected_by"]
    assert (summary["folds"] <= 2).all()

    table = pd.read_csv(cv / test_file("metrics"))
    for config in configs:
        mine = table[table["config"] == config].set_index("metric")
        for key in ("auc_ovr_macro", "ap_macro", "f1_macro", *(f"auc/{c}" for c in labels)):
            row = mine.loc[key]
            assert row["ci_low"] <= row["value"] <= row["ci_high"], (config, key)
            assert row["unit"] == f"patient ({TEST_PATIENTS} patients)"
    per_label = pd.read_csv(cv / test_file(PER_LABEL_TABLE))
    assert len(per_label) == 2 * len(labels) and list(per_label["label"][: len(labels)]) == list(labels)
    assert per_label[["auc", "auc_low", "auc_high", "ap", "f1", "threshold", "ece", "brier"]].notna().all().all()
    assert (per_label["support"] > 0).all()
    comparisons = pd.read_csv(cv / test_file("comparisons"))
    assert list(comparisons["config"]) == [configs[0]] and list(comparisons["metric"]) == ["auc_ovr_macro"]
    assert comparisons["test"].item() == f"paired bootstrap (patient ({TEST_PATIENTS} patients), 200 resamples)"
    assert (cv / COMPARISONS_FILE).is_file()  # the CV's t-test against bce

    for config in configs:
        folder = cv / REFITS_DIR / config
        refit = json.loads((folder / REFIT_FILE).read_text())
        assert (folder / MODEL_FILE).is_file() and refit["multilabel"] is True
        assert tuple(refit["classes"]) == labels and refit["selected"] == (config == selection["selected"])
        rule = DecisionRule.from_dict(refit["decision"])
        assert rule.rule == "thresholds" and len(rule.thresholds) == len(labels)
        assert refit["test"]["auc_ovr_macro"]["unit"] == f"patient ({TEST_PATIENTS} patients)"
    _check_patients_apart(experiment)

    report = (cv / REPORT_FILE).read_text()
    assert f"**Task: multi-label**, 4 labels ({', '.join(labels)})" in report
    assert "uncertain labels: `ignore`" in report and "chosen by its mean CV macro AUC on dev" in report
    assert "### Per label (test)" in report and "### Against `bce` on the test set (macro AUC" in report
    assert "Confusion" not in report and "t-SNE" not in report
    assert sorted(p.name for p in cv.glob("roc_*.png")) == sorted(f"roc_{c}.png" for c in configs)

    # The CV's choice is the model you get: predict EXP/cv loads the selected refit with its per-label thresholds.
    out = tmp_path / "predictions.csv"
    splits = pd.read_csv(experiment / SPLITS_FILE)
    test_images = [root / f for f in splits.loc[splits["role"] == "test", "file"]]
    capsys.readouterr()
    assert predict_main([str(cv), *map(str, test_images), "--out", str(out), "--quiet"]) == 0
    assert f"configuration {selection['selected']} (CV-selected)" in capsys.readouterr().out
    predicted = pd.read_csv(out)
    assert len(predicted) == len(test_images) and {f"p_{c}" for c in labels} | set(labels) <= set(predicted.columns)
    refit = json.loads((cv / REFITS_DIR / selection["selected"] / REFIT_FILE).read_text())
    for label, threshold in zip(labels, DecisionRule.from_dict(refit["decision"]).thresholds):
        clear = (predicted[f"p_{label}"] - threshold).abs() > 1e-5  # the CSV's digits decide the rest
        assert ((predicted[f"p_{label}"] >= threshold).astype(int) == predicted[label])[clear].all()
