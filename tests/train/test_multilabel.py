"""``python -m raycxr.train`` on a multi-label dataset (an NIH replica): folds of whole patients, official holdout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycxr.train import TrainConfig, prepare_data
from raycxr.train.__main__ import main
from tests.data.replicas import covidx_replica, nih_replica, png


@pytest.fixture(scope="module")
def nih(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, ...]]:
    root = nih_replica(tmp_path_factory.mktemp("nih"), patients=24)
    entries = pd.read_csv(root / "Data_Entry_2017.csv", index_col=False)
    test = entries["Image Index"].isin(set((root / "test_list.txt").read_text().split()))
    findings = entries["Finding Labels"].str.get_dummies("|").drop(columns="No Finding")
    seen = [c for c in findings.columns if findings.loc[test, c].any() and findings.loc[~test, c].sum() > 4]
    return root, tuple(seen[:3])


def _cfg(root: Path, labels: tuple[str, ...], **overrides) -> TrainConfig:
    base = dict(
        data=root, dataset="nih", classes=list(labels), loss="bce", image_size=64, folds=3, split="group",
        weights="none", head="gap", batch_size=8, epochs=2, patience=2, holdout_official=True,
    )  # fmt: skip
    return TrainConfig(**(base | overrides))


def test_folds_keep_patients_whole_and_the_official_test_split_is_held_out(nih) -> None:
    root, labels = nih
    data = prepare_data(_cfg(root, labels))
    assert data.index.multilabel and data.classes == labels and data.labels.shape == (len(data.index), 3)
    held = {data.index.paths[r].name for r in data.holdout}
    assert held == set((root / "test_list.txt").read_text().split())
    patient = np.array([int(p.name[:8]) for p in data.index.paths])
    for split in data.splits:
        parts = [set(patient[rows]) for rows in (split.train, split.val, split.test)]
        assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert not set(patient[data.holdout]) & set(patient[np.concatenate([split.train, split.val, split.test])])


def test_a_multilabel_run_writes_per_label_metrics(nih, tmp_path: Path, capsys) -> None:
    root, labels = nih
    out = tmp_path / "run"
    argv = ["--data", str(root), "--dataset", "nih", "--classes", ",".join(labels), "--loss", "asl"]
    argv += ["--image-size", "64", "--folds", "3", "--split", "group", "--weights", "none", "--head", "gap"]
    argv += ["--batch-size", "8", "--epochs", "2", "--patience", "2", "--holdout-official", "--out", str(out)]
    main(argv)
    assert "macro AUC" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["decision"]["rule"] == "thresholds" and len(metrics["decision"]["thresholds"]) == 3
    for part in ("val", "test", "holdout"):
        assert 0.0 <= metrics[part]["auc_ovr_macro"] <= 1.0 or np.isnan(metrics[part]["auc_ovr_macro"])
        assert all(f"auc/{label}" in metrics[part] for label in labels)


def test_official_holdout_errors(tmp_path: Path, nih) -> None:
    root, labels = nih
    with pytest.raises(ValueError, match="give holdout_official or holdout_fraction, not both"):
        _cfg(root, labels, holdout_fraction=0.2).check()
    plain = tmp_path / "plain"
    for name in ("a", "b"):
        for k in range(6):
            png(plain / name / f"{k}.png")
    with pytest.raises(ValueError, match="dataset folder has no official test split"):
        prepare_data(TrainConfig(data=plain, image_size=64, folds=3, loss="ce", holdout_official=True))
    covidx = covidx_replica(tmp_path / "covidx", patients=12)
    data = prepare_data(TrainConfig(data=covidx, image_size=64, folds=3, loss="ce", holdout_official=True))
    assert {data.index.paths[r].parent.name for r in data.holdout} == {"test"}
