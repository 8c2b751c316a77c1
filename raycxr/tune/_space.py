"""Search spaces: a YAML file → a validated schema → an Optuna define-by-run function.

A space file has four top-level keys, all optional but ``params``/``fixed`` being mappings::

    description: what this space is for
    fixed:             # training settings (TrainConfig fields) shared by every trial
      loss: attention
    params:            # searched parameters, suggested in this order
      lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      loss: {type: categorical, choices: [ce, attention]}
      beta: {type: float, low: 0.0, high: 0.2, when: {loss: attention}}   # conditional
      freezing:                    # a choice that sets several settings at once
        type: categorical
        choices:
          prefix: {freeze_mode: prefix, freeze_ratio: 0.5}
          none: {freeze_ratio: 0.0}
    search: {num_samples: 16, metric: best_val_f1_macro, mode: max, sampler: tpe}
    # or several objectives: search: {objectives: best_val_f1_macro:max,latency_ms:min, constraints: [latency_ms<=20]}

A parameter's name is a training setting, except for a categorical whose choices are a
mapping (its name is free; each choice names the settings it sets). ``when`` makes a
parameter conditional on the values of ``fixed`` settings or parameters listed before it.
Every bound, choice and fixed value is checked against :class:`TrainConfig` when the file
is loaded, so a value a trial could not train with is an error before Ray starts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from raycxr.train import TrainConfig, format_validation_error, load_yaml

SAMPLERS = ("tpe", "random", "grid", "nsga2")
#: Settings a space may not fix or search: they belong to the command line.
NOT_IN_SPACE = ("data", "dataset", "out", "cache_dir", "device")
#: Settings the data is prepared with once per experiment: they may be fixed, not searched.
DATA_SETTINGS = (
    "classes",
    "class_map",
    "binary",
    "interpolation",
    "resize",
    "split",
    "folds",
    "fold",
    "val_fraction",
    "holdout_fraction",
    "folds_dir",
    "skip_bad",
    "stats_samples",
    "stats_size",
    "seed",
)

#: Settings a space may search only as a categorical (the data is prepared once per value).
CATEGORICAL_ONLY = ("image_size",)

Scalar = bool | int | float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatParam(_Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)
    when: dict[str, Scalar | list[Scalar]] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log, self.step)
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class IntParam(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)
    when: dict[str, Scalar | list[Scalar]] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log, self.step if self.step != 1 else None)
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class CategoricalParam(_Strict):
    type: Literal["categorical"]
    choices: list[Scalar] | dict[str, dict[str, Any]] = Field(min_length=1)
    when: dict[str, Scalar | list[Scalar]] | None = None

    @property
    def is_preset(self) -> bool:
        """Whether each choice is a named group of settings rather than a value."""
        return isinstance(self.choices, dict)

    @property
    def values(self) -> list[Scalar]:
        return list(self.choices) if isinstance(self.choices, dict) else self.choices

    def suggest(self, trial: optuna.Trial, name: str) -> Scalar:
        return trial.suggest_categorical(name, self.values)

    def extremes(self) -> list[Any]:
        return self.values


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _check_bounds(low: float, high: float, log: bool, step: float | None) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must not be greater than high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0 (got low={low})")
    if log and step is not None:
        raise ValueError("log and step cannot be combined")


class SearchDefaults(_Strict):
    num_samples: int | None = Field(None, ge=1)
    metric: str | None = None
    mode: Literal["min", "max"] | None = None
    sampler: Literal["tpe", "random", "grid", "nsga2"] | None = None
    #: ``METRIC:min|max,…`` or a list of such items: a multi-objective search (``--objectives``).
    objectives: str | list[str] | None = None
    #: ``METRIC<=VALUE`` items (``--constraint``).
    constraints: list[str] | None = None


class SearchSpace(_Strict):
    """A validated search space. Build it with :func:`load_space` (or ``SearchSpace(**mapping)``)."""

    description: str = ""
    fixed: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Param] = Field(default_factory=dict)
    search: SearchDefaults = Field(default_factory=SearchDefaults)

    def define(self, trial: optuna.Trial, base: dict[str, Any] | None = None) -> None:
        """Optuna define-by-run function: suggest every parameter whose ``when`` holds.

        Args:
            trial: The Optuna trial to suggest on.
            base: Settings given outside the space (``--set``). A ``when`` sees them as a
                trial trains with them: over ``fixed``, as in :meth:`settings`.
        """
        values: dict[str, Any] = {**self.fixed, **(base or {})}
        for name, param in self.params.items():
            if _holds(param.when, values):
                values[name] = param.suggest(trial, name)

    def define_by_run(self, base: dict[str, Any] | None = None) -> Callable[[optuna.Trial], None]:
        """:meth:`define` with ``base`` bound: the space function to give ``OptunaSearch`` (picklable)."""
        return functools.partial(self.define, base=dict(base or {}))

    def settings(self, params: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
        """A trial's training settings: ``fixed``, then ``base``, then its parameters (presets expanded)."""
        settings = {**self.fixed, **(base or {})}
        for name, value in params.items():
            param = self.params.get(name)
            if param is None:
                raise ValueError(f"unknown parameter {name!r}; the space has {sorted(self.params)}")
            if isinstance(param, CategoricalParam) and param.is_preset:
                settings |= param.choices[value]
            else:
                settings[name] = value
        return settings

    def grid(self) -> dict[str, list[Scalar]]:
        """Optuna ``GridSampler`` space: every parameter must be categorical and unconditional."""
        for name, param in self.params.items():
            if not isinstance(param, CategoricalParam) or param.when:
                raise ValueError(f"sampler 'grid' needs unconditional categorical parameters; {name!r} is not.")
        return {name: param.values for name, param in self.params.items()}

    def grid_size(self) -> int:
        sizes = [len(values) for values in self.grid().values()]
        return math.prod(sizes)

    def possible_values(self, setting: str, base: dict[str, Any] | None = None) -> list[Any]:
        """Every value of ``setting`` some trial may train with (its categorical choices,
        preset choices that set it, else the fixed / base / default value)."""
        start = {setting: TrainConfig.model_fields[setting].default, **self.fixed, **(base or {})}
        param = self.params.get(setting)
        values = [] if param is not None and not param.when else [start[setting]]
        for name, param in self.params.items():
            if not isinstance(param, CategoricalParam):
                continue
            if name == setting:
                values += param.values
            elif param.is_preset:
                values += [choice.get(setting, start[setting]) for choice in param.choices.values()]
        return list(dict.fromkeys(values))

    def check(self, base: dict[str, Any] | None = None) -> SearchSpace:
        """Check names, conditions and every value against :class:`TrainConfig`; returns ``self``.

        Args:
            base: Settings given outside the space (command line) that trials start from.

        Raises:
            ValueError: One line per problem, ``key: message (got value)``.
        """
        base = dict(base or {})
        fields = TrainConfig.model_fields
        errors: list[str] = []
        for key in self.fixed:
            if key not in fields or key in NOT_IN_SPACE:
                errors.append(f"fixed.{key}: not a training setting of a trial (got {key!r})")
        known = set(self.fixed) | set(base)
        for name, param in self.params.items():
            if name in base:
                errors.append(f"params.{name}: searched here, so it cannot also be set outside the space")
            if name in DATA_SETTINGS:
                errors.append(f"params.{name}: the data is prepared once per experiment; fix it, don't search it")
            if name in CATEGORICAL_ONLY and not isinstance(param, CategoricalParam):
                errors.append(f"params.{name}: the data is prepared once per value: search it as a categorical")
            if name in NOT_IN_SPACE or (name not in fields and not getattr(param, "is_preset", False)):
                errors.append(f"params.{name}: unknown parameter name (got {name!r}; expected a training setting)")
            if name in self.fixed:
                errors.append(f"params.{name}: also in fixed (got {name!r})")
            for other in param.when or {}:
                if other not in known:
                    errors.append(f"params.{name}.when: {other!r} is not in fixed or an earlier parameter")
            known.add(name)
            if isinstance(param, CategoricalParam) and param.is_preset:
                for choice, settings in param.choices.items():
                    for key in settings:
                        if key not in fields or key in NOT_IN_SPACE or key in DATA_SETTINGS:
                            errors.append(f"params.{name}.choices.{choice}.{key}: not a searchable setting")
        if errors:
            raise ValueError("\n".join(errors))
        start = {**self.fixed, **base}
        errors += _config_errors(start, "fixed")
        for name, param in self.params.items():
            if isinstance(param, CategoricalParam) and param.is_preset:
                for choice, settings in param.choices.items():
                    errors += _config_errors({**start, **settings}, f"params.{name}.choices.{choice}")
            else:
                for value in param.extremes():
                    errors += _config_errors({**start, name: value}, f"params.{name}", name)
        if errors:
            raise ValueError("\n".join(dict.fromkeys(errors)))
        if self.search.sampler == "grid":
            self.grid()
        return self


def _holds(when: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    if not when:
        return True
    for key, expected in when.items():
        allowed = expected if isinstance(expected, list) else [expected]
        if key not in values or values[key] not in allowed:
            return False
    return True


def _config_errors(settings: dict[str, Any], where: str, only: str | None = None) -> list[str]:
    """Why ``TrainConfig(**settings)`` fails, as ``where.field: message (got value)`` lines."""
    try:
        TrainConfig(**settings).check()
    except ValidationError as error:
        lines = []
        for item in error.errors():
            field = ".".join(str(p) for p in item["loc"])
            if only is None or field == only:
                key = where if only else f"{where}.{field}"
                lines.append(f"{key}: {item['msg']} (got {item.get('input')!r})")
        return lines
    except ValueError as error:
        return [f"{where}: {error}"]
    return []


def load_space(path: str | Path, base: dict[str, Any] | None = None) -> SearchSpace:
    """Read, validate and check a search-space YAML file.

    Args:
        path: The YAML file.
        base: Settings given outside the file (they must agree with the space's values).

    Raises:
        ValueError: A missing or malformed file, or any bad key or value; every line of
            the message starts with the file name.
    """
    path = Path(path)
    content = load_yaml(path)
    try:
        space = SearchSpace(**content)
    except ValidationError as error:
        raise ValueError(format_validation_error(error, str(path))) from None
    try:
        return space.check(base)
    except ValueError as error:
        raise ValueError("\n".join(f"{path}: {line}" for line in str(error).splitlines())) from None


def make_sampler(
    name: str, space: SearchSpace, seed: int, population_size: int | None = None
) -> optuna.samplers.BaseSampler:
    """A seeded Optuna sampler: ``tpe`` (default), ``random``, ``grid`` or ``nsga2`` (NSGA-II).

    TPE and NSGA-II handle several objectives and sample with the constraint values of
    finished trials (``Trial.set_constraint``); ``random`` and ``grid`` ignore constraints.

    Args:
        population_size: NSGA-II's generation size (default: Optuna's, 50).
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        size = {} if population_size is None else {"population_size": population_size}
        return optuna.samplers.NSGAIISampler(seed=seed, **size)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {name!r}")
