"""``_OptunaSearch`` driven as Tune drives it (suggest → results → complete), with a real SQLite study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raycxr.tune._searcher import _OptunaSearch
from raycxr.tune._space import SearchSpace
from raycxr.tune._trial import TrialConfigs

METRIC = "best_val_f1_macro"
SPACE = SearchSpace(params={"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})


def _searcher(storage: str, configs: TrialConfigs) -> _OptunaSearch:
    return _OptunaSearch(
        SPACE.define,
        configs=configs,
        metric=METRIC,
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        study_name="study",
        storage=optuna.storages.RDBStorage(storage),
    )


def _run(searcher: _OptunaSearch, trial_id: str, values: list[float], best_epochs: list[int], stopped: bool) -> dict:
    """Suggest a trial and report one result per epoch as Tune does; return the last result.

    On the result the scheduler stops a trial on (``stopped``), Tune calls ``on_trial_complete``
    with it but not ``on_trial_result``.
    """
    assert searcher.suggest(trial_id) is not None
    results = [
        {METRIC: value, "epoch": epoch, "best_epoch": best, "training_iteration": epoch}
        for epoch, (value, best) in enumerate(zip(values, best_epochs), start=1)
    ]
    for result in results[:-1] if stopped else results:
        searcher.on_trial_result(trial_id, result)
    return results[-1]


def test_a_trial_the_scheduler_stopped_is_pruned_in_optuna(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = _searcher(storage, TrialConfigs(SPACE, {"epochs": 4, "patience": 2}))
    stopped = _run(searcher, "stopped", [0.3, 0.4], [1, 2], stopped=True)  # ASHA stops it after epoch 2 of 4
    full = _run(searcher, "full", [0.2, 0.5, 0.6, 0.7], [1, 2, 3, 4], stopped=True)  # ASHA's max_t: epoch 4
    patient = _run(searcher, "patient", [0.6, 0.6, 0.6], [1, 1, 1], stopped=False)  # early stopping: patience 2
    _run(searcher, "crashed", [0.1], [1], stopped=False)
    searcher.on_trial_complete("stopped", result=stopped)
    searcher.on_trial_complete("full", result=full)
    searcher.on_trial_complete("patient", result=patient)
    searcher.on_trial_complete("crashed", error=True)

    trials = optuna.load_study(study_name="study", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    pruned, complete, patient_trial, _ = trials
    assert pruned.intermediate_values == {1: pytest.approx(0.3), 2: pytest.approx(0.4)}
    assert pruned.value == pytest.approx(0.4)  # Optuna keeps the last intermediate value
    assert complete.value == pytest.approx(0.7) and patient_trial.value == pytest.approx(0.6)
    assert complete.intermediate_values == {1: 0.2, 2: 0.5, 3: 0.6, 4: 0.7}


def test_a_pruned_trial_told_again_after_a_resume_stays_pruned(tmp_path: Path) -> None:
    """The driver died after Optuna recorded the trial's end but before Tune saved its state."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    configs = TrialConfigs(SPACE, {"epochs": 4, "patience": 4})
    searcher = _searcher(storage, configs)
    stopped = _run(searcher, "stopped", [0.3, 0.4], [1, 2], stopped=True)
    searcher.save(str(tmp_path / "searcher.pkl"))  # Tune's last saved searcher state
    searcher.on_trial_complete("stopped", result=stopped)

    resumed = _searcher(storage, configs)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    resumed.on_trial_result("stopped", stopped)  # the restored trial says its last result again
    resumed.on_trial_complete("stopped", result=stopped)
    (trial,) = optuna.load_study(study_name="study", storage=storage).trials
    assert trial.state == TrialState.PRUNED and trial.value == pytest.approx(0.4)
