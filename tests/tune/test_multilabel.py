"""Multi-label searches: ``python -m raycxr.tune --dataset nih|chexpert --space search_spaces/multilabel.yaml``.

On replicas in each dataset's own layout: the official test split, patients never straddling train /
validation / test, one sigmoid output and one validation-chosen threshold per label, and the errors a
multi-label task gives before Ray starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from raycxr.evaluation import DecisionRule
from raycxr.experiment import (
    EXPERIMENT_FILE,
    NESTED_DIR,
    NESTED_FILE,
    OUTER_ROWS_FILE,
    SEARCH_ROWS_FILE,
    SPLITS_FILE,
    TRIALS_FILE,
    Experiment,
)
from raycxr.tune.__main__ import main
from tests.data.replicas import chexpert_replica, nih_replica
from tests.tune.conftest import FAST, cli_error

SPACE = Path(__file__).resolve().parents[2] / "search_spaces" / "multilabel.yaml"
#: The test's training settings: tiny, fast, no ImageNet weights.
QUICK = [*FAST, "epochs=2", "weights=none", "batch_size=8"]


def _search(root: Path, storage: Path, name: str, dataset: str, *extra: str) -> Path:
    argv = ["--dataset", dataset, "--data", str(root), "--space", str(SPACE), "--storage", str(storage)]
    argv += ["--name", name, "--num-samples", "2", "--test-split", "official", *extra]
    for item in QUICK:
        argv += ["--set", item]
    main(argv)
    return storage / name


def _patients_apart(directory: Path, patient_of) -> None:
    splits = pd.read_csv(directory / SPLITS_FILE)
    rows = pd.read_csv(directory / SEARCH_ROWS_FILE)
    parts = {part: {patient_of(f) for f in rows.loc[rows["part"] == part, "file"]} for part in ("train", "val")}
    parts["test"] = {patient_of(f) for f in splits.loc[splits["role"] == "test", "file"]}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]


def _trained(directory: Path, labels: tuple[str, ...]) -> pd.DataFrame:
    record = json.loads((directory / EXPERIMENT_FILE).read_text())
    assert record["multilabel"] is True and tuple(record["classes"]) == labels
    trials = pd.read_csv(directory / TRIALS_FILE)
    assert (trials["status"] == "completed").all() and len(trials) == 2
    assert trials["best_val_auc_ovr_macro"].between(0, 1).all()
    for trial_id in trials["trial_id"]:
        state = torch.load(Experiment(directory).latest_state(trial_id), weights_only=True)
        rule = DecisionRule.from_dict(state["best_rule"])
        assert rule.rule == "thresholds" and len(rule.thresholds) == len(labels)
        assert rule.features is not None  # the feature OOD score, fitted once at the last epoch
        assert state["best_model"]["classifier.bias"].shape[0] == len(labels)  # one sigmoid output per label
    return trials


@pytest.mark.slow
def test_an_nih_search_with_the_official_test_split(tmp_path: Path) -> None:
    root = nih_replica(tmp_path / "nih", patients=24)
    test_images = set((root / "test_list.txt").read_text().split())
    entries = pd.read_csv(root / "Data_Entry_2017.csv", index_col=False)
    in_test = entries["Image Index"].isin(test_images)
    findings = entries["Finding Labels"].str.get_dummies("|").drop(columns="No Finding")
    seen = [c for c in findings.columns if findings.loc[in_test, c].any() and findings.loc[~in_test, c].sum() > 2]
    labels = tuple(seen[:4])  # a task of four findings, each positive in test and in training
    directory = _search(root, tmp_path / "runs", "nih", "nih", "--set", f"classes={','.join(labels)}")
    _trained(directory, labels)
    splits = pd.read_csv(directory / SPLITS_FILE)
    assert {Path(f).name for f in splits.loc[splits["role"] == "test", "file"]} == test_images
    patient = dict(zip(entries["Image Index"], entries["Patient ID"]))
    _patients_apart(directory, lambda f: patient[Path(f).name])


@pytest.mark.slow
def test_a_chexpert_search_masks_uncertain_labels(tmp_path: Path) -> None:
    root = chexpert_replica(tmp_path / "chexpert", patients=8)
    directory = _search(root, tmp_path / "runs", "chexpert", "chexpert")
    record = json.loads((directory / EXPERIMENT_FILE).read_text())
    trials = _trained(directory, tuple(record["classes"]))
    configs = [json.loads(c) for c in trials["train_config"]]
    assert {c["uncertain"] for c in configs} == {"ignore"} and {c["split"] for c in configs} == {"group"}
    _patients_apart(directory, lambda f: Path(f).parts[-3])  # …/patient00001/study1/view1_frontal.jpg
    splits = pd.read_csv(directory / SPLITS_FILE)
    assert all("/valid/" in f for f in splits.loc[splits["role"] == "test", "file"])  # valid.csv is the test


def test_multilabel_errors_before_ray(capsys, tmp_path: Path) -> None:
    root = nih_replica(tmp_path / "nih", patients=8)
    base = ["--dataset", "nih", "--data", str(root), "--storage", str(tmp_path / "runs"), "--space", str(SPACE)]
    lr_only = tmp_path / "lr.yaml"
    lr_only.write_text("description: the learning rate\nparams:\n  lr: {type: float, low: 1.0e-4, high: 1.0e-2}\n")
    assert cli_error(capsys, [*base, "--space", str(lr_only), "--set", "loss=ce"]).startswith(
        "loss 'ce' is single-label; a multi-label task takes one of: bce, focal_ml, asl"
    )
    assert cli_error(capsys, [*base, "--space", str(lr_only)]).startswith(  # the default loss is the paper's
        "loss 'attention' is single-label; a multi-label task takes one of"
    )
    assert "'Fibroma' is not a label of the dataset (labels: Atelectasis" in cli_error(
        capsys, [*base, "--set", "classes=Atelectasis,Fibroma"]
    )
    assert "--class-map merges the classes of a single-label task" in cli_error(
        capsys, [*base, "--set", "class_map=Atelectasis=Other"]
    )
    assert "binary is for single-label tasks; this dataset is multi-label" in cli_error(
        capsys, [*base, "--set", "binary=true", "--set", "classes=Atelectasis,Mass"]
    )
    folder = tmp_path / "plain"
    for name in ("a", "b"):
        for k in range(4):
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / f"{k}.png").write_bytes((root / "images" / "00000001_000.png").read_bytes())
    plain = ["--data", str(folder), "--storage", str(tmp_path / "runs")]
    assert cli_error(capsys, [*plain, "--set", "loss=asl"]).startswith(
        "loss 'asl' is multi-label; a single-label task takes one of:"
    )


@pytest.mark.slow
def test_nested_cv_of_a_multilabel_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--nested 2``: outer folds of whole patients, each winner scored on its outer test with sigmoid outputs."""
    root = nih_replica(tmp_path / "nih", patients=24)
    entries = pd.read_csv(root / "Data_Entry_2017.csv", index_col=False)
    findings = entries["Finding Labels"].str.get_dummies("|").drop(columns="No Finding")
    labels = tuple(findings.sum().sort_values(ascending=False).index[:3])  # the three commonest findings
    task = ["--nested", "2", "--set", f"classes={','.join(labels)}"]
    directory = _search(root, tmp_path / "runs", "nested", "nih", *task)
    table = pd.read_csv(directory / NESTED_FILE)
    assert list(table["outer_fold"]) == [0, 1]
    assert table["outer_test_auc_ovr_macro"].between(0, 1).all() and "outer_test_accuracy" not in table
    assert "macro AUC" in capsys.readouterr().out
    patient = dict(zip(entries["Image Index"], entries["Patient ID"]))
    outer = [pd.read_csv(directory / NESTED_DIR / f"outer{k}" / OUTER_ROWS_FILE) for k in (0, 1)]
    tested = [{patient[Path(f).name] for f in rows.loc[rows["part"] == "outer_test", "file"]} for rows in outer]
    trained = [{patient[Path(f).name] for f in rows.loc[rows["part"] != "outer_test", "file"]} for rows in outer]
    assert not tested[0] & tested[1] and not tested[0] & trained[0] and not tested[1] & trained[1]
