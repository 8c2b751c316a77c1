"""Optuna behind Tune: the searcher that tells Optuna the truth about each trial, and the Tuner of a search."""

from __future__ import annotations

import contextlib
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from raycxr.experiment import STUDY_FILE, trial_dirname
from raycxr.run import checkpoint_config, tune_config_options
from raycxr.tune._console import Console
from raycxr.tune._objectives import MODEL_METRICS, Constraint, Objective
from raycxr.tune._plan import SearchPlan, nsga2_population
from raycxr.tune._results import TrialsTable, finished_training, table_metrics
from raycxr.tune._space import make_sampler
from raycxr.tune._trial import TrialConfigs


def study_storage(plan: SearchPlan) -> optuna.storages.BaseStorage:
    """The search's Optuna study storage: ``optuna.db`` in the experiment folder."""
    return optuna.storages.RDBStorage(f"sqlite:///{plan.directory / STUDY_FILE}")


class _OptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells Optuna which trials the scheduler pruned, and tolerates repeats.

    With ``configs`` (each trial's ``epochs`` and ``patience``), a trial the scheduler (ASHA)
    stopped before its end is told ``PRUNED``, not ``COMPLETE``, so optuna-dashboard and
    Optuna's importances do not take it for a trial that trained to its end; its value is
    the last intermediate value. Every epoch's metric is an intermediate value, the last one
    included: Tune does not pass the result on which the scheduler stops a trial to
    ``on_trial_result``, only to ``on_trial_complete``. Without ``configs`` it tells Optuna
    what ``OptunaSearch`` does (a trial with a result is ``COMPLETE``).

    If the driver dies after Optuna recorded a trial's end but before Tune saved its own
    state, the resumed search runs that trial once more: restored from its last checkpoint,
    it trains no epoch and reports its final result again. Optuna already has it; reporting
    to a finished Optuna trial would raise and stop the whole search.

    Before it tells Optuna a trial's end, it sets the Optuna trial's constraint values
    (``Trial.set_constraint``: each constraint's violation by the trial's last result, ≤ 0
    when met), which NSGA-II and TPE sample with and ``study.best_trials`` honours, and
    stores the constrained and model metrics (``latency_ms``, ``macs``, ``params``) as user
    attributes. With several metrics (``metric`` and ``mode`` lists) the study has several
    objectives.
    """

    #: Class-level defaults, so a searcher pickled before they existed still restores.
    _configs: TrialConfigs | None = None
    _constraints: tuple[Constraint, ...] = ()

    def __init__(
        self,
        *args: Any,
        configs: TrialConfigs | None = None,
        constraints: tuple[Constraint, ...] = (),
        **kwargs: Any,
    ) -> None:
        """Arguments of ``OptunaSearch``, ``configs`` (maps a trial's parameters to its training
        configuration) and ``constraints`` (told to Optuna as each trial's constraint values)."""
        super().__init__(*args, **kwargs)
        self._configs = configs
        self._constraints = tuple(constraints)
        self._trial_params: dict[str, dict[str, Any]] = {}
        self._last_steps: dict[str, int] = {}  # the last step reported to Optuna, per trial

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        params = super().suggest(trial_id)
        if params is not None and self._configs is not None:
            self._trial_params[trial_id] = params
        return params

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            super().on_trial_result(trial_id, result)
        if self._configs is not None and _STEP in result:
            self._last_steps[trial_id] = result[_STEP]

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if result and not error and trial_id not in self._completed_trials and trial_id in self._ot_trials:
            self._store_attrs(trial_id, result)
        if self._configs is None or error or not result or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        if result.get(_STEP, 0) > self._last_steps.get(trial_id, 0):
            self.on_trial_result(trial_id, result)  # the result the scheduler stopped the trial on
        if not self._stopped_early(trial_id, result):
            super().on_trial_complete(trial_id, result, error)
            return
        # Optuna takes the last intermediate value as a pruned trial's value; a trial it
        # already finished (told before a driver restart) is left as it is.
        self._ot_study.tell(self._ot_trials[trial_id], state=optuna.trial.TrialState.PRUNED, skip_if_finished=True)
        self._completed_trials.add(trial_id)

    def _store_attrs(self, trial_id: str, result: dict[str, Any]) -> None:
        """Constraint values and the constrained and model metrics of ``result``, on the Optuna trial."""
        names = dict.fromkeys([*(c.metric for c in self._constraints), *MODEL_METRICS])
        trial = self._ot_trials[trial_id]
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # told before a driver restart
            for name in names:
                value = result.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    trial.set_user_attr(name, float(value))
            for constraint in self._constraints:
                trial.set_constraint(str(constraint), constraint.violation(result.get(constraint.metric)))

    def _stopped_early(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether ``result``, a trial's last, shows that the scheduler stopped it before its end."""
        params = self._trial_params.get(trial_id)
        if self._configs is None or params is None or result.get("epoch") is None or result.get("best_epoch") is None:
            return False
        return not finished_training(result, self._configs.train_config(params))


#: The step of a Tune result (an epoch of the trial): Optuna's intermediate values are keyed by it.
_STEP = "training_iteration"


def new_tuner(plan: SearchPlan, trainable: Any, configs: TrialConfigs, concurrency: int, max_epochs: int) -> tune.Tuner:
    settings = plan.settings
    objectives = plan.objectives or (Objective(plan.metric, plan.mode),)  # type: ignore[arg-type]
    population = nsga2_population(plan.num_samples) if plan.sampler == "nsga2" else None
    sampler = make_sampler(plan.sampler, plan.space, settings.seed, population_size=population)
    searcher = _OptunaSearch(
        plan.space.define_by_run(plan.base),
        configs=configs,
        constraints=plan.constraints,
        metric=[o.metric for o in objectives] if plan.multi else plan.metric,
        mode=[o.mode for o in objectives] if plan.multi else plan.mode,
        points_to_evaluate=[dict(point) for point in plan.points] or None,
        sampler=sampler,
        study_name=plan.name,
        storage=study_storage(plan),
    )
    scheduler = None
    if settings.scheduler == "asha":
        scheduler = ASHAScheduler(
            metric=plan.metric,
            mode=plan.mode,
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
        )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=plan.num_samples,
            max_concurrent_trials=concurrency,
            trial_dirname_creator=lambda trial: trial_dirname(trial.trial_id),
            **tune_config_options(settings.scaling()),
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            callbacks=[
                TrialsTable(plan.directory, configs, plan.metric, plan.objectives, plan.constraints),
                Console(configs, table_metrics(plan.metric, plan.objectives, plan.constraints), plan.mode),
            ],
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            checkpoint_config=checkpoint_config(),
            # --verbose: Tune's status table too (not every result); else only raycxr's Console
            verbose=1 if settings.verbose else 0,
        ),
    )


def fail_orphaned_trials(plan: SearchPlan) -> None:
    """Mark Optuna trials still ``RUNNING`` after the search ended as failed.

    A driver killed outright (SIGKILL, a lost SSH session without tmux) can leave a trial
    Optuna had suggested but Tune never recorded; the resumed search asks for a new one, and
    the orphan would stay ``RUNNING`` in ``optuna.db`` for ever.
    """
    storage = study_storage(plan)
    study_id = storage.get_study_id_from_name(plan.name)
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
