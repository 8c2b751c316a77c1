"""Interrupt a search (Ctrl-C) after some trials, resume it, and check nothing ran twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from raycxr.experiment import STUDY_FILE, TRIALS_FILE
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow


def _completed(path: Path) -> pd.DataFrame:
    if not path.is_file() or not path.stat().st_size:
        return pd.DataFrame(columns=["trial_id", "status"])
    trials = pd.read_csv(path)
    return trials[trials["status"] == "completed"]


def _result_lines(directory: Path, trial_dir: str) -> list[dict]:
    return [json.loads(line) for line in (directory / trial_dir / "result.json").read_text().splitlines()]


def _persisted(directory: Path, trials: pd.DataFrame) -> bool:
    """Whether every epoch of these trials is in their ``result.json`` in the storage.

    ``trials.csv`` says a trial completed as it ends; Tune copies its own files from its
    staging folder to the storage some time later.
    """
    for row in trials.itertuples():
        try:
            epochs = {r["epoch"] for r in _result_lines(directory, row.trial_dir)}
        except (OSError, json.JSONDecodeError):  # not there yet, or half copied
            return False
        if row.epochs not in epochs:
            return False
    return True


def _search_until(
    space: Path,
    data: Path,
    storage: Path,
    name: str,
    num_samples: int,
    seed: int,
    finished: int,
    log_path: Path,
    trainer: str = "auto",
) -> subprocess.Popen:
    """Start ``python -m raycxr.tune`` (one trial at a time); return once ``finished`` trials completed.

    Completed means in ``trials.csv`` and with every epoch in the trial's ``result.json``,
    which the tests compare before and after the resume.
    """
    command = [
        sys.executable, "-m", "raycxr.tune", "--space", str(space), "--data", str(data), "--storage", str(storage),
        "--name", name, "--num-samples", str(num_samples), "--max-concurrent", "1", "--seed", str(seed),
        "--trainer", trainer,
    ]  # fmt: skip
    for item in FAST:
        command += ["--set", item]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + 400
    while len(done := _completed(storage / name / TRIALS_FILE)) < finished or not _persisted(storage / name, done):
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{finished} trial(s) did not finish in time"
        time.sleep(0.5)
    return process


def test_interrupted_search_resumes_without_rerunning_finished_trials(
    tiny_dataset: Path, conditional_space: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    directory = storage / "resume"
    process = _search_until(conditional_space, tiny_dataset, storage, "resume", 4, 0, 2, tmp_path / "first.log")
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(timeout=120) is not None
    before = _completed(directory / TRIALS_FILE)
    assert 2 <= len(before) < 4, (tmp_path / "first.log").read_text()[-3000:]
    lines_before = {row.trial_id: _result_lines(directory, row.trial_dir) for row in before.itertuples()}

    with pytest.raises(ValueError, match="no experiment named 'other'"):
        run_search(TuneSettings(storage=str(storage), name="other", resume=True))
    result = run_search(TuneSettings(storage=str(storage), name="resume", resume=True))

    trials = pd.read_csv(directory / TRIALS_FILE)
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials[["status", "error"]]
    assert not result.interrupted and trials["trial_id"].is_unique
    for trial_id, lines in lines_before.items():  # finished trials were not run again
        row = trials[trials["trial_id"] == trial_id].iloc[0]
        assert _result_lines(directory, row["trial_dir"]) == lines
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{directory / STUDY_FILE}")
    assert len(study.trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sorted(t.value for t in study.trials) == pytest.approx(sorted(trials["best_val_f1_macro"]))


@pytest.mark.parametrize("trainer", ["function", "train"])
def test_search_resumes_after_its_driver_is_killed(
    trainer: str, tiny_dataset: Path, conditional_space: Path, tmp_path: Path
) -> None:
    """SIGKILL (a lost SSH session, an OOM kill): no clean-up runs, yet nothing finished is lost, on both paths."""
    storage = tmp_path / "storage"
    directory = storage / "killed"
    process = _search_until(
        conditional_space, tiny_dataset, storage, "killed", 3, 1, 1, tmp_path / "first.log", trainer
    )
    process.kill()
    process.wait(timeout=30)
    output = (tmp_path / "first.log").read_text()
    assert "PreemptionWatcher" not in output  # quiet start: no internal Ray error lines for a local run
    assert ("trained in the trial" in output) == (trainer == "function")
    before = _completed(directory / TRIALS_FILE)
    lines_before = {row.trial_id: _result_lines(directory, row.trial_dir) for row in before.itertuples()}
    time.sleep(5)  # the killed driver's local Ray shuts itself down

    result = run_search(TuneSettings(storage=str(storage), name="killed", resume=True))
    trials = pd.read_csv(directory / TRIALS_FILE)
    assert len(trials) == 3 and (trials["status"] == "completed").all(), trials[["status", "error"]]
    assert not result.interrupted
    for trial_id, lines in lines_before.items():  # no epoch trained again
        row = trials[trials["trial_id"] == trial_id].iloc[0]
        after = _result_lines(directory, row["trial_dir"])
        if after[: len(lines)] == lines:  # kept as it was, or said its final result once more
            again = after[len(lines) :]
        else:
            # A trial that ended just before the kill, unknown to Tune's last saved state, runs
            # once more. A Ray Train trial holds no Tune checkpoint, so Tune starts its result
            # files anew; the Train run itself restores from its final checkpoint.
            assert trainer == "train", (lines, after)
            again = after
        # Either way no epoch trains again: the rerun only says the final result again.
        assert all(r["resumed_from_epoch"] == lines[-1]["epoch"] == r["epoch"] for r in again)
        assert after[-1]["best_val_f1_macro"] == lines[-1]["best_val_f1_macro"]
    study = optuna.load_study(study_name="killed", storage=f"sqlite:///{directory / STUDY_FILE}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    assert optuna.trial.TrialState.RUNNING not in states  # an orphaned suggestion is closed as failed
