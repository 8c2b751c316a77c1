"""The experiment record layer: Ray-free, one definition of every name, each trial's recorded configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from raycxr.experiment import (
    CONFIG_COLUMN,
    Experiment,
    read_trials,
    trial_config,
    trial_dirname,
    write_trial_config,
)


def test_importing_the_record_layer_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys, raycxr.experiment, raycxr.experiment._records;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_trial_folders_are_named_as_users_see_them(tmp_path: Path) -> None:
    experiment = Experiment(tmp_path)
    assert trial_dirname("ab12_00003") == "trial_ab12_00003"
    assert experiment.trial_dir("ab12_00003") == tmp_path / "trial_ab12_00003"
    checkpoint = tmp_path / "trial_x" / "checkpoint_000002"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.pt").write_bytes(b"")
    (tmp_path / "trial_x" / "checkpoint_000001").mkdir()
    (tmp_path / "trial_x" / "checkpoint_000001" / "state.pt").write_bytes(b"")
    assert experiment.latest_state("x") == checkpoint / "state.pt"
    assert experiment.latest_state("y") is None


def test_a_trials_configuration_is_read_from_its_record(tmp_path: Path) -> None:
    write_trial_config(tmp_path, "t1", {"lr": 0.001, "data": tmp_path})
    assert trial_config(tmp_path, "t1") == {"lr": 0.001, "data": str(tmp_path)}
    # Without the file: the trials.csv column (a search on URI storage keeps only that locally).
    row = {"trial_id": "t2", "status": "completed", CONFIG_COLUMN: json.dumps({"lr": 0.01})}
    pd.DataFrame([row]).to_csv(tmp_path / "trials.csv", index=False)
    assert read_trials(tmp_path)["trial_id"].tolist() == ["t2"]
    assert trial_config(tmp_path, "t2") == {"lr": 0.01}


def test_an_older_experiment_without_recorded_configurations_is_refused_in_one_line(tmp_path: Path) -> None:
    pd.DataFrame([{"trial_id": "t3", "status": "completed"}]).to_csv(tmp_path / "trials.csv", index=False)
    with pytest.raises(ValueError, match="older raycxr; run the search again") as error:
        trial_config(tmp_path, "t3")
    assert "\n" not in str(error.value)
