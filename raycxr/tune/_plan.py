"""A checked search plan: everything that can be wrong with a search's input, found before Ray starts.

:func:`plan_search` checks the space file, the data, the storage, the resources, the
objectives and the ``--resume`` target, and returns a :class:`SearchPlan` that nothing in the
input can make fail.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from raycxr.data import AUTO, check_dataset_use, resolve_dataset, synthetic
from raycxr.evaluation import TASK_METRICS
from raycxr.experiment import EXPERIMENT_FILE, read_json
from raycxr.losses import check_loss_objective
from raycxr.models import check_weights
from raycxr.run import check_address, check_uri_writable
from raycxr.train import TrainConfig
from raycxr.tune._enqueue import enqueue_points
from raycxr.tune._objectives import (
    MODEL_METRICS,
    Constraint,
    Objective,
    default_mode,
    parse_constraint,
    parse_objectives,
)
from raycxr.tune._settings import DEMO_NUM_SAMPLES, DEMO_SETTINGS, TuneSettings
from raycxr.tune._space import CategoricalParam, SearchSpace, load_space
from raycxr.tune._storage import local_directory, resumed_settings
from raycxr.tune._trial import BEST_PREFIX

DEFAULT_METRIC = BEST_PREFIX + "f1_macro"
DEFAULT_NUM_SAMPLES = 16
#: What a trial reports every epoch, hence what ``--metric`` may name.
METRICS = (
    "train_loss",
    *(f"val_{k}" for k in ("loss", *TASK_METRICS)),
    *(f"{BEST_PREFIX}{k}" for k in ("loss", *TASK_METRICS)),
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


def resolve_space(settings: TuneSettings, stored: dict[str, Any] | None) -> tuple[SearchSpace, dict[str, Any]]:
    """The search space (the stored one of a resumed experiment) and the settings given outside it."""
    base = settings.train_base()
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
        settings = resumed_settings(settings)
        stored = read_json(local_directory(settings, settings.name) / EXPERIMENT_FILE)
    settings.scaling()  # --trainer / resources valid together
    if settings.nested and settings.is_uri:
        raise ValueError("--nested needs a local or mounted --storage (it scores each outer winner on the driver).")
    check_address(settings.address)  # an address nothing answers at fails before any data work
    settings = _resolve_dataset(settings)
    space, base = resolve_space(settings, stored)
    if base.get("holdout_fraction"):
        raise ValueError("--set holdout_fraction: a search keeps its untouched test set with --test-fraction.")
    spec = settings.test_spec(group=base.get("split") == "group")
    check_dataset_use(settings.dataset, spec.official, base.get("split") == "group")  # what it declares it lacks
    objectives, constraints = _resolve_objectives(settings, space, stored is not None)
    _check_loss_objectives(space, base, objectives, constraints)
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
    name = settings.name or settings.experiment_name()
    settings = settings.model_copy(update={"name": name})
    directory = local_directory(settings, name)
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


def _resolve_dataset(settings: TuneSettings) -> TuneSettings:
    """``settings`` with ``--dataset auto`` resolved to the dataset detected in ``--data``: what the
    experiment records, so every later command reads the data the same way. The demo data are
    the Kaggle layout.

    Raises:
        ValueError: ``--set dataset=…``, ``--data`` that does not exist, an ambiguous ``auto``, or a
            dataset other than the demo's without ``--data``.
    """
    if "dataset" in settings.overrides(demo=False):
        raise ValueError("--set dataset: choose the dataset with --dataset.")
    if settings.data is None:
        if settings.dataset not in (AUTO, "kaggle-covid"):
            raise ValueError(f"--dataset {settings.dataset} needs --data (the demo data are kaggle-covid).")
        return settings.model_copy(update={"dataset": "kaggle-covid"})
    if not settings.data.exists():
        raise ValueError(f"--data: {settings.data} does not exist.")
    return settings.model_copy(update={"dataset": resolve_dataset(settings.data, settings.dataset)})


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


def _check_loss_objectives(
    space: SearchSpace, base: dict[str, Any], objectives: list[Objective], constraints: list[Constraint]
) -> None:
    """Refuse ranking trials by a loss whose scale the space changes (e.g. the attention loss's ``n``).

    Raises:
        ValueError: One line naming the option, the metric, the setting and why.
    """
    varied: set[str] = set()
    for name, param in space.params.items():
        preset = isinstance(param, CategoricalParam) and param.is_preset
        varied |= {k for choice in param.choices.values() for k in choice} if preset else {name}
    searched = {loss: varied for loss in space.possible_values("loss", base)}
    option = "--objectives" if len(objectives) > 1 else "--metric"
    for objective in objectives:
        check_loss_objective(objective.metric, searched, option=option)
    for constraint in constraints:
        check_loss_objective(constraint.metric, searched, option="--constraint")


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
