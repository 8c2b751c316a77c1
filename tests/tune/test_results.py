"""``trials.csv`` written by the ``TrialsTable`` callback, with real Tune ``Trial`` objects (no Ray cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial

from raycxr.experiment import TRIALS_FILE
from raycxr.tune._results import TrialsTable
from raycxr.tune._space import SearchSpace
from raycxr.tune._trial import TrialConfigs

METRIC = "best_val_f1_macro"
CONFIGS = TrialConfigs(
    SearchSpace(params={"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}),
    {"epochs": 4, "patience": 2},
)


def _trial(storage: Path, trial_id: str, status: str, epoch: int | None = None, best_epoch: int | None = None) -> Trial:
    """A trial as Tune holds it: its folder, its status, and its last reported epoch if it reported."""
    trial = Trial(
        "run_trial",
        config={"lr": 1e-3},
        trial_id=trial_id,
        storage=StorageContext(str(storage), "search", trial_dir_name=f"trial_{trial_id}"),
        stub=True,
    )
    if status != Trial.PENDING:
        trial.set_status(status)
    if epoch is not None:
        result: dict[str, Any] = {"epoch": epoch, "best_epoch": best_epoch, METRIC: 0.5, "training_iteration": epoch}
        trial.update_last_result(result)
    return trial


def _statuses(directory: Path) -> dict[str, str]:
    table = pd.read_csv(directory / TRIALS_FILE, dtype={"trial_id": str})
    return dict(zip(table["trial_id"], table["status"]))


def test_a_trial_that_just_ended_is_written_as_finished(tmp_path: Path) -> None:
    """Tune calls ``on_trial_complete`` while the trial is still RUNNING; its row must say how it ended."""
    table = TrialsTable(tmp_path, CONFIGS, METRIC)
    storage = tmp_path / "storage"
    full = _trial(storage, "a", Trial.RUNNING, epoch=4, best_epoch=4)  # trained every epoch
    patient = _trial(storage, "b", Trial.RUNNING, epoch=3, best_epoch=1)  # stopped early by patience
    stopped = _trial(storage, "c", Trial.RUNNING, epoch=1, best_epoch=1)  # stopped by the scheduler
    running = _trial(storage, "d", Trial.RUNNING, epoch=2, best_epoch=2)
    waiting = _trial(storage, "e", Trial.PENDING)
    trials = [full, patient, stopped, running, waiting]

    table.on_trial_complete(iteration=1, trials=trials, trial=full)
    assert _statuses(tmp_path) == {"a": "completed", "b": "running", "c": "running", "d": "running", "e": "pending"}
    full.set_status(Trial.TERMINATED)  # what Tune does right after the callback
    table.on_trial_complete(iteration=2, trials=trials, trial=patient)
    assert _statuses(tmp_path)["b"] == "completed"
    patient.set_status(Trial.TERMINATED)
    table.on_trial_complete(iteration=3, trials=trials, trial=stopped)
    assert _statuses(tmp_path) == {"a": "completed", "b": "completed", "c": "pruned", "d": "running", "e": "pending"}
    # A pending trial stopped before it ever reported stays pending (a resumed search runs it).
    table.on_trial_complete(iteration=4, trials=trials, trial=waiting)
    assert _statuses(tmp_path)["e"] == "pending"


def test_the_console_table_of_trials_that_never_reported(tmp_path: Path) -> None:
    """Every trial errored before its first report (no time, no metric): the final table still prints."""
    from raycxr.tune._console import Console

    trials = [_trial(tmp_path / "storage", trial_id, Trial.ERROR) for trial_id in ("a", "b")]
    table = Console(CONFIGS, [METRIC], "max").table(trials)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["trial", "status"] and "seconds" in lines[0]
    assert [line.split()[:2] for line in lines[1:]] == [["trial_a", "errored"], ["trial_b", "errored"]]
