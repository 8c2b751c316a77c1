"""A search from start to end: check everything, prepare the data once, run Tune, write results.

Everything that can be wrong with the input (space file, data, storage, resources,
``--resume`` target) is checked in :func:`plan_search`, before any trial starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pyarrow.fs
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from raycxr.data import Split, relative_files, synthetic
from raycxr.data import default_cache_dir as cache_root
from raycxr.losses import loss_spec
from raycxr.models import check_weights
from raycxr.run import (
    LEAKAGE_FILE,
    SPLITS_FILE,
    Partition,
    check_address,
    check_uri_writable,
    checkpoint_config,
    create_partition,
    dev_split,
    load_partition,
    put_images,
    ray_session,
    search_leakage,
    trainable,
    tune_config_options,
)
from raycxr.train import SCALAR_METRICS, TrainConfig, split_statistics
from raycxr.train._cli import jsonable
from raycxr.tune._enqueue import describe, enqueue_points
from raycxr.tune._objectives import (
    MODEL_METRICS,
    Constraint,
    Objective,
    default_mode,
    parse_constraint,
    parse_objectives,
)
from raycxr.tune._plot import PARETO_PNG, plot_pareto
from raycxr.tune._results import TRIALS_FILE, TrialsTable, write_atomic, write_best
from raycxr.tune._settings import DEMO_NUM_SAMPLES, DEMO_SETTINGS, TuneSettings
from raycxr.tune._space import SearchSpace, load_space, make_sampler
from raycxr.tune._trial import BEST_PREFIX, ExperimentData, TrialConfigs, search_job

EXPERIMENT_FILE = "raycxr.json"
STUDY_FILE = "optuna.db"
SEARCH_ROWS_FILE = "search_rows.csv"
#: raycxr's own record of an experiment (besides Tune's): uploaded with it to URI storage.
RECORD_FILES = (EXPERIMENT_FILE, STUDY_FILE, SPLITS_FILE, LEAKAGE_FILE, SEARCH_ROWS_FILE)
DEFAULT_METRIC = BEST_PREFIX + "f1_macro"
DEFAULT_NUM_SAMPLES = 16
#: What a trial reports every epoch, hence what ``--metric`` may name.
METRICS = (
    "train_loss",
    *(f"val_{k}" for k in ("loss", *SCALAR_METRICS)),
    *(f"{BEST_PREFIX}{k}" for k in ("loss", *SCALAR_METRICS)),
)
#: What an objective or constraint may name: the reported metrics, and the model metrics a
#: trial measures when one is named.
MEASURABLE = (*METRICS, *MODEL_METRICS)


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """A checked search, ready to run: nothing in it can fail for a reason of the input."""

    settings: TuneSettings
    space: SearchSpace
    base: dict[str, Any]
    name: str
    storage: str  # for Tune: absolute local path or URI
    directory: Path  # local folder of raycxr's own files (the experiment folder when storage is local)
    data: Path
    metric: str
    mode: str
    sampler: str
    num_samples: int
    objectives: tuple[Objective, ...] = ()  # (metric, mode) first; several: a multi-objective search
    constraints: tuple[Constraint, ...] = ()
    points: tuple[dict[str, Any], ...] = ()  # --enqueue: evaluated first
    notes: tuple[str, ...] = ()  # what the space keeps of an enqueued paper configuration

    @property
    def experiment_path(self) -> str:
        return f"{self.storage.rstrip('/')}/{self.name}"

    @property
    def multi(self) -> bool:
        """Whether the search has several objectives (a Pareto front, no single best)."""
        return len(self.objectives) > 1

    @property
    def measure(self) -> tuple[str, ...]:
        """The model metrics trials measure: those an objective or constraint names."""
        named = {o.metric for o in self.objectives} | {c.metric for c in self.constraints}
        return tuple(m for m in MODEL_METRICS if m in named)

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{**self.space.fixed, **self.base, "data": self.data}).check()


@dataclasses.dataclass
class SearchResult:
    """What ``run_search`` returns: the trials table, the best configuration, where they are."""

    plan: SearchPlan
    trials: pd.DataFrame
    best: dict[str, Any] | None
    interrupted: bool
    nested: pd.DataFrame | None = None  #: one row per outer fold of a nested CV (``--nested``)


def _local_directory(settings: TuneSettings, name: str) -> Path:
    if settings.is_uri:
        return cache_root() / "experiments" / name
    return Path(settings.storage_path()) / name


def _download(uri_dir: str, local: Path, files: tuple[str, ...]) -> None:
    fs, root = pyarrow.fs.FileSystem.from_uri(uri_dir)
    local.mkdir(parents=True, exist_ok=True)
    for name in files:
        info = fs.get_file_info(f"{root}/{name}")
        if info.type == pyarrow.fs.FileType.File:
            with fs.open_input_stream(f"{root}/{name}") as source, open(local / name, "wb") as target:
                shutil.copyfileobj(source, target)


def _upload(local: Path, uri_dir: str, files: tuple[str, ...]) -> None:
    fs, root = pyarrow.fs.FileSystem.from_uri(uri_dir)
    fs.create_dir(root, recursive=True)
    for name in files:
        if (local / name).is_file():
            with open(local / name, "rb") as source, fs.open_output_stream(f"{root}/{name}") as target:
                shutil.copyfileobj(source, target)


def _resumed_settings(settings: TuneSettings) -> TuneSettings:
    """The stored settings of the experiment ``--storage``/``--name`` (``--address`` may change)."""
    if settings.name is None:
        raise ValueError("--resume needs --name (and the same --storage) of the experiment to continue.")
    local = _local_directory(settings, settings.name)
    if settings.is_uri:
        _download(f"{settings.storage.rstrip('/')}/{settings.name}", local, (*RECORD_FILES, TRIALS_FILE))
    if not (local / EXPERIMENT_FILE).is_file():
        raise ValueError(
            f"--resume: no experiment named {settings.name!r} in {settings.storage} (no {EXPERIMENT_FILE})."
        )
    stored = json.loads((local / EXPERIMENT_FILE).read_text())
    nested = stored["settings"].get("nested", 0)  # a nested CV keeps its Tune state per outer fold
    if not nested and not tune.Tuner.can_restore(f"{settings.storage_path().rstrip('/')}/{settings.name}"):
        raise ValueError(f"--resume: {settings.storage}/{settings.name} has no Tune experiment state to restore.")
    return TuneSettings(**(stored["settings"] | {"resume": True, "address": settings.address}))


def _resolve_space(settings: TuneSettings, stored: dict[str, Any] | None) -> tuple[SearchSpace, dict[str, Any]]:
    base = settings.overrides() | {"seed": settings.seed}
    if stored is not None:  # the space as it was when the experiment started
        space = SearchSpace(**stored["space"])
    else:
        path = settings.space_file()
        if not path.is_file():
            raise ValueError(f"--space: search-space file {path} does not exist.")
        space = load_space(path, {k: v for k, v in base.items() if k not in DEMO_SETTINGS})
    if settings.data is None:  # the demo's defaults give way to the parameters the space searches
        explicit = settings.overrides(demo=False)
        base = {k: v for k, v in base.items() if k in explicit or k not in space.params}
    try:
        return space.check(base), base
    except ValueError as error:
        where = "the stored space" if stored is not None else str(settings.space_file())
        raise ValueError("\n".join(f"{where}: {line}" for line in str(error).splitlines())) from None


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"--storage: cannot write to {directory}: {error.strerror or error}.") from None


def demo_data(settings: TuneSettings) -> Path:
    """The built-in synthetic dataset of a search without ``--data`` (written once, then cached)."""
    size = int(settings.overrides().get("image_size", 64))
    return synthetic.cached_demo(settings.demo_images, size, settings.seed)


def plan_search(settings: TuneSettings) -> SearchPlan:
    """Check every input of a search (nothing starts Ray or trains).

    Raises:
        ValueError: One line per problem, naming the option, file, key or value.
    """
    stored = None
    if settings.resume:
        settings = _resumed_settings(settings)
        stored = json.loads((_local_directory(settings, settings.name) / EXPERIMENT_FILE).read_text())
    settings.scaling()  # --trainer / resources valid together
    if settings.nested and settings.is_uri:
        raise ValueError("--nested needs a local or mounted --storage (it scores each outer winner on the driver).")
    check_address(settings.address)  # an address nothing answers at fails before any data work
    space, base = _resolve_space(settings, stored)
    if base.get("holdout_fraction"):
        raise ValueError("--set holdout_fraction: a search keeps its untouched test set with --test-fraction.")
    settings.test_spec(group=base.get("split") == "group")
    objectives, constraints = _resolve_objectives(settings, space, stored is not None)
    metric, mode = objectives[0].metric, objectives[0].mode
    multi = len(objectives) > 1
    if multi and settings.scheduler == "asha":
        raise ValueError("--scheduler asha stops trials on one metric; it cannot be used with several --objectives.")
    if multi and settings.nested:
        raise ValueError("--nested scores each outer fold's winner by one objective; not with several --objectives.")
    sampler = settings.sampler or space.search.sampler or ("nsga2" if multi else "tpe")
    if sampler == "grid":
        try:
            space.grid()
        except ValueError as error:
            raise ValueError(f"--sampler grid: {error}") from None
    num_samples = settings.num_samples or space.search.num_samples
    if num_samples is None:
        num_samples = space.grid_size() if sampler == "grid" else DEFAULT_NUM_SAMPLES
    if settings.data is None and settings.num_samples is None:
        num_samples = min(num_samples, DEMO_NUM_SAMPLES)
    points, notes = [], []
    if settings.enqueue is not None and not settings.resume:  # a resumed searcher has its queue
        if sampler == "grid":
            raise ValueError("--enqueue: the grid sampler runs every point of its grid already.")
        points, notes = enqueue_points(settings.enqueue, space, base, num_samples)
    if settings.data is not None and not settings.data.exists():
        raise ValueError(f"--data: {settings.data} does not exist.")
    name = settings.name or settings.experiment_name()
    settings = settings.model_copy(update={"name": name})
    directory = _local_directory(settings, name)
    if not settings.resume and (directory / EXPERIMENT_FILE).exists():
        raise ValueError(
            f"--name: experiment {name!r} already exists in {settings.storage}; use --resume or another --name."
        )
    _check_writable(directory)
    if settings.is_uri and not settings.resume:
        check_uri_writable(f"{settings.storage.rstrip('/')}/{name}")
    data = settings.data.resolve() if settings.data is not None else None
    plan = SearchPlan(
        settings, space, base, name, settings.storage_path(), directory, data, metric, mode, sampler, num_samples,
        tuple(objectives), tuple(constraints), tuple(points), tuple(notes),
    )  # fmt: skip
    if data is not None:
        plan.train_config()  # the data settings are valid together (fold < folds, folds_dir …)
    _check_weights(space, base)
    return plan


def _resolve_objectives(
    settings: TuneSettings, space: SearchSpace, stored: bool
) -> tuple[list[Objective], list[Constraint]]:
    """The objectives (``--objectives``, else ``--metric``/``--mode``, else the space's) and constraints.

    Raises:
        ValueError: One line: an unknown metric (listing what trials report), a bad direction,
            a constraint that does not parse or names a metric nothing measures.
    """
    where = "the stored space" if stored else str(settings.space_file())
    if settings.objectives is not None and (settings.metric is not None or settings.mode is not None):
        raise ValueError("--objectives replaces --metric and --mode: give one or the other.")
    if settings.objectives is not None:
        objectives = parse_objectives(settings.objectives, MEASURABLE)
    elif settings.metric is None and settings.mode is None and space.search.objectives is not None:
        objectives = parse_objectives(space.search.objectives, MEASURABLE, f"{where}: search.objectives")
    else:
        metric = settings.metric or space.search.metric or DEFAULT_METRIC
        if metric not in MEASURABLE:
            raise ValueError(f"--metric: unknown metric {metric!r}; trials report {', '.join(MEASURABLE)}.")
        objectives = [Objective(metric, settings.mode or space.search.mode or default_mode(metric))]
    if settings.constraints:
        constraints = [parse_constraint(text, MEASURABLE) for text in settings.constraints]
    else:
        option = f"{where}: search.constraints"
        constraints = [parse_constraint(text, MEASURABLE, option) for text in space.search.constraints or []]
    return objectives, constraints


def nsga2_population(num_samples: int) -> int:
    """NSGA-II's generation size: a quarter of the budget, 4 to 50 (Optuna's default, 50, would
    leave a budget below 50 trials all in the random first generation)."""
    return min(50, max(4, num_samples // 4))


def _check_weights(space: SearchSpace, base: dict[str, Any]) -> None:
    """Every backbone a trial may train can get its weights (an offline ``imagenet`` fails here, not in a trial)."""
    for weights in space.possible_values("weights", base):
        for backbone in space.possible_values("backbone", base):
            try:
                check_weights(backbone, weights)
            except (FileNotFoundError, ValueError) as error:
                raise ValueError(f"--space/--set weights={weights}: {error}") from None


def _study_storage(plan: SearchPlan) -> optuna.storages.BaseStorage:
    return optuna.storages.RDBStorage(f"sqlite:///{plan.directory / STUDY_FILE}")


def run_search(settings: TuneSettings) -> SearchResult:
    """Run (or resume) a search end to end and write its results.

    Raises:
        ValueError: Bad input, before any trial starts.
    """
    plan = plan_search(settings)
    settings = plan.settings
    scaling = settings.scaling()
    local_storage = None if settings.is_uri else plan.directory
    if plan.data is None:
        plan = dataclasses.replace(plan, data=demo_data(settings))
    cfg = plan.train_config()
    sizes = plan.space.possible_values("image_size", plan.base)
    if cfg.image_size not in sizes:  # searched: the partition (and its audit) at the smallest size
        cfg = cfg.model_copy(update={"image_size": min(sizes)})
    if settings.resume:
        partition = load_partition(cfg, plan.directory)
    else:  # the dev/test partition is made once, here, and read by everything after
        spec = settings.test_spec(group=cfg.split == "group")
        partition = create_partition(cfg, spec, plan.directory, settings.dedupe)
    if settings.nested:
        from raycxr.tune._nested import outer_folds

        outer_folds(partition, cfg, settings.nested)  # enough groups for the outer folds, before Ray starts
    split = dev_split(partition, cfg)  # trials train and select on dev; they never see a test row
    attention = any(loss_spec(name).needs_stats for name in plan.space.possible_values("loss", plan.base))
    stats = split_statistics(partition, split, cfg) if attention else None
    _write_search_rows(plan.directory, partition, split, cfg)
    with ray_session(settings.address, scaling, settings.max_concurrent, local_storage) as concurrency:
        if not settings.resume:
            record = {"settings": settings.model_dump(mode="json"), "space": plan.space.model_dump(mode="json")}
            if plan.points:
                record["enqueued"] = list(plan.points)  # what --enqueue ran first (a file may change later)
            write_atomic(plan.directory / EXPERIMENT_FILE, json.dumps(jsonable(record), indent=2))
            if settings.is_uri:
                _upload(plan.directory, plan.experiment_path, RECORD_FILES)
        print(f"Experiment: {plan.experiment_path}", flush=True)
        print(f"TensorBoard: tensorboard --logdir {plan.experiment_path}", flush=True)
        path = "Ray Train runs (TorchTrainer)" if scaling.uses_train else "in the trial (actors reused)"
        goal = (
            "objectives " + ", ".join(f"{o.metric} ({o.mode})" for o in plan.objectives) + f", sampler {plan.sampler}"
            if plan.multi
            else f"objective {plan.metric} ({plan.mode})"
        )
        if plan.constraints:
            goal += "; constraints " + ", ".join(map(str, plan.constraints))
        print(
            f"{plan.num_samples} trials, at most {concurrency} at a time, {settings.workers_per_trial} worker(s) each, "
            f"trained {path}; {goal}; "
            f"{len(split.train)} training and {len(split.val)} validation images (dev); "
            f"{len(partition.test)} test images kept untouched.",
            flush=True,
        )
        if plan.points:
            print(f"First trials (--enqueue {settings.enqueue}):\n{describe(plan.points)}", flush=True)
        for note in plan.notes:
            print(f"  note: the space trains with {note}", flush=True)
        if settings.nested:
            from raycxr.tune._nested import run_nested

            return SearchResult(plan, pd.DataFrame(), None, False, run_nested(plan, partition, scaling, concurrency))
        configs = TrialConfigs(plan.space, plan.base)
        data = ExperimentData(
            images=put_images(partition, cfg, sizes),
            labels=partition.labels,
            classes=partition.classes,
            split=split,
            stats=stats,
            configs=configs,
            measure=plan.measure,
        )
        runs = trainable(search_job, data, scaling, f"{plan.experiment_path}/train")
        if settings.resume:
            tuner = tune.Tuner.restore(plan.experiment_path, runs, resume_unfinished=True, resume_errored=False)
        else:
            tuner = new_tuner(plan, runs, configs, concurrency, cfg.epochs)
        tuner.fit()
    return finish(plan, configs)


def _write_search_rows(directory: Path, partition: Partition, split: Split, cfg: TrainConfig) -> None:
    """``search_rows.csv``: the files every trial trains (``train``) and validates and is selected on (``val``)."""
    files = relative_files(partition.index, cfg.data)
    frame = pd.concat(
        [pd.DataFrame({"part": part, "file": [files[r] for r in rows]}) for part, rows in
         (("train", split.train), ("val", split.val))]
    )  # fmt: skip
    write_atomic(directory / SEARCH_ROWS_FILE, frame.to_csv(index=False))
    print(search_leakage(directory, partition, split, cfg), flush=True)  # duplicates across train/val


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
        from raycxr.tune._results import finished_training

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
        storage=_study_storage(plan),
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
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
            **tune_config_options(settings.scaling()),
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            callbacks=[TrialsTable(plan.directory, configs, plan.metric, plan.objectives, plan.constraints)],
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            checkpoint_config=checkpoint_config(),
            verbose=1,  # Tune's status table, not every result
        ),
    )


def _fail_orphaned_trials(plan: SearchPlan) -> None:
    """Mark Optuna trials still ``RUNNING`` after the search ended as failed.

    A driver killed outright (SIGKILL, a lost SSH session without tmux) can leave a trial
    Optuna had suggested but Tune never recorded; the resumed search asks for a new one, and
    the orphan would stay ``RUNNING`` in ``optuna.db`` for ever.
    """
    storage = _study_storage(plan)
    study_id = storage.get_study_id_from_name(plan.name)
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


def finish(plan: SearchPlan, configs: TrialConfigs) -> SearchResult:
    path = plan.directory / TRIALS_FILE
    trials = pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()
    best = None
    if len(trials):
        best = write_best(plan.directory, trials, configs, plan.metric, plan.mode, plan.objectives, plan.constraints)
        if plan.multi and best is not None:
            plot_pareto(path, plan.objectives, plan.directory / PARETO_PNG)
    finished = trials["status"].isin(["completed", "pruned", "errored"]).sum() if len(trials) else 0
    interrupted = finished < plan.num_samples
    if not interrupted:
        _fail_orphaned_trials(plan)
    if plan.settings.is_uri:
        _upload(plan.directory, plan.experiment_path, (TRIALS_FILE, "best_config.json", PARETO_PNG, *RECORD_FILES))
    return SearchResult(plan, trials, best, interrupted)
