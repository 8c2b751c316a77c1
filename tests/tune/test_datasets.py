"""``--dataset`` and ``--test-split official`` through ``python -m raycxr.tune``: errors before Ray, and a search."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from raycxr.experiment import EXPERIMENT_FILE, SEARCH_ROWS_FILE, SPLITS_FILE
from raycxr.tune import TuneSettings
from raycxr.tune.__main__ import main
from tests.data.replicas import covidx_replica, png, rsna_replica
from tests.tune.conftest import FAST, cli_error

SPACE = """
description: the learning rate only
params:
  lr: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}
"""


def test_bad_dataset_input_fails_before_ray(capsys, tmp_path: Path) -> None:
    storage = ["--storage", str(tmp_path / "runs")]
    covidx = ["--data", str(covidx_replica(tmp_path / "covidx"))]
    rsna = ["--data", str(rsna_replica(tmp_path / "rsna"))]
    assert cli_error(capsys, ["--dataset", "vindr-cxr", *covidx, *storage]) == (
        "command line: dataset: Value error, --dataset: unknown dataset 'vindr-cxr'; choose one of auto, chexpert, "
        "covidx, csv, folder, kaggle-covid, mimic-cxr-jpg, nih, padchest, rsna-pneumonia. (got 'vindr-cxr')"
    )
    assert "--test-split official: dataset rsna-pneumonia has no official test split" in cli_error(
        capsys, [*rsna, "--test-split", "official", *storage]
    )
    assert "give one of --test-source, --test-files or --test-split, not --test-source and --test-split" in cli_error(
        capsys, [*covidx, "--test-split", "official", "--test-source", "sirm", *storage]
    )
    both = rsna_replica(covidx_replica(tmp_path / "both"))
    assert "looks like covidx and rsna-pneumonia; choose one with --dataset" in cli_error(
        capsys, ["--data", str(both), *storage]
    )
    assert "--dataset covidx needs --data" in cli_error(capsys, ["--dataset", "covidx", *storage])
    set_dataset = cli_error(capsys, [*covidx, "--set", "dataset=csv", *storage])
    assert "--set dataset: choose the dataset with --dataset" in set_dataset
    (tmp_path / "covidx" / "test" / "test-10-0.png").unlink()
    assert "1 listed image(s) missing on disk" in cli_error(capsys, [*covidx, *storage, "--name", "missing"])
    plain = tmp_path / "plain"
    for name in ("a", "b"):
        for k in range(6):
            png(plain / name / f"{k}.png")
    assert "needs groups, but the index has none" in cli_error(
        capsys, ["--data", str(plain), "--set", "split=group", *storage, "--name", "groups"]
    )


@pytest.mark.slow
def test_covidx_official_test_split_and_patient_groups(tmp_path: Path) -> None:
    """A tiny search on a COVIDx replica: the test set is test.txt, no patient straddles train/val/test."""
    root = covidx_replica(tmp_path / "covidx", patients=20)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    storage = tmp_path / "runs"
    argv = ["--space", str(space), "--data", str(root), "--storage", str(storage), "--name", "covidx"]
    argv += ["--num-samples", "1", "--test-split", "official", "--set", "split=group", "--set", "weights=none"]
    for item in [*FAST, "epochs=1", "loss=ce"]:  # random-pixel images: no attention-loss statistics
        argv += ["--set", item]
    main(argv)
    directory = storage / "covidx"
    settings = json.loads((directory / EXPERIMENT_FILE).read_text())["settings"]
    assert settings["dataset"] == "covidx" and settings["test_split"] == "official"  # auto, recorded resolved

    patient = {}
    for split in ("train", "val", "test"):
        for line in (root / f"{split}.txt").read_text().splitlines():
            pid, name, _, _ = line.split()
            patient[f"{split}/{name}"] = pid
    splits = pd.read_csv(directory / SPLITS_FILE)
    assert sorted(splits.loc[splits["role"] == "test", "file"]) == sorted(f for f in patient if f.startswith("test/"))
    rows = pd.read_csv(directory / SEARCH_ROWS_FILE)
    parts = {part: {patient[f] for f in rows.loc[rows["part"] == part, "file"]} for part in ("train", "val")}
    parts["test"] = {patient[f] for f in splits.loc[splits["role"] == "test", "file"]}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert len(rows) + (splits["role"] == "test").sum() == len(patient)  # every image in exactly one part


def test_official_test_spec_of_a_search(tmp_path: Path) -> None:
    settings = TuneSettings(data=tmp_path, dataset="covidx", test_split="official")
    spec = settings.test_spec(group=True)
    assert spec.official and spec.group and spec.fraction is None
    assert settings.test_drawn_by(group=False) == "groups"  # COVIDx's split keeps patients whole
    assert settings.test_description() == "the official test split of covidx"
    assert settings.train_base()["dataset"] == "covidx"
