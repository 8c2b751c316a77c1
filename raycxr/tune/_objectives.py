"""Several objectives and constraints: parsing, feasibility, the Pareto front.

A multi-objective search (``--objectives best_val_f1_macro:max,latency_ms:min``) optimises
every objective at once; its answer is the Pareto front of the finished trials, the trials
no other trial beats on every objective. ``--constraint 'latency_ms<=20'`` marks a trial
that breaks it infeasible: never on the front or best. The searcher tells Optuna each
constraint's :meth:`Constraint.violation` with ``Trial.set_constraint`` before it tells the
trial's end; NSGA-II and TPE sample with it, and ``study.best_trials`` leaves infeasible
trials out.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

#: Properties of a trial's network, measured once per trial (at its first epoch) when an
#: objective or constraint names them: median batch-1 latency on the trial's device (ms),
#: multiply-accumulates of one image at the trial's size, and parameters (trainable + frozen).
MODEL_METRICS = ("latency_ms", "macs", "params")
#: Columns of ``trials.csv``: whether a trial meets every constraint, whether it is on the front.
FEASIBLE = "feasible"
PARETO = "pareto"
#: Trials the front is computed over (the statuses ``best_config.json`` picks from).
FINISHED = ("completed", "pruned")

Mode = Literal["min", "max"]
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclasses.dataclass(frozen=True)
class Objective:
    """A metric the search optimises, and whether lower (``min``) or higher (``max``) is better."""

    metric: str
    mode: Mode

    def __str__(self) -> str:
        return f"{self.metric}:{self.mode}"


@dataclasses.dataclass(frozen=True)
class Constraint:
    """``metric op bound``: a trial whose value breaks it is infeasible."""

    metric: str
    op: Literal["<=", ">=", "<", ">"]
    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "bound", float(self.bound))

    def __str__(self) -> str:
        bound = str(int(self.bound)) if self.bound.is_integer() and abs(self.bound) < 1e15 else repr(self.bound)
        return f"{self.metric}{self.op}{bound}"

    def holds(self, value: Any) -> bool:
        """Whether ``value`` meets the constraint (a missing or NaN value does not)."""
        return self.violation(value) <= 0

    def violation(self, value: Any) -> float:
        """Optuna's constraint value (``Trial.set_constraint``): ≤ 0 when ``value`` meets the
        constraint, else how far it is off.

        A missing or NaN value is infinitely off; a strict bound met with equality is off by
        the smallest positive float.
        """
        if value is None or not isinstance(value, (int, float, np.number)) or math.isnan(value):
            return math.inf
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and excess == 0:
            return math.ulp(0.0)
        return float(excess)


def default_mode(metric: str) -> Mode:
    """Losses and model costs (latency, MACs, parameters) are minimised, everything else maximised."""
    return "min" if metric.endswith("loss") or metric in MODEL_METRICS else "max"


def parse_objectives(text: str | Sequence[str], known: Sequence[str], option: str = "--objectives") -> list[Objective]:
    """``METRIC[:min|max],…`` (a string or a list of items) → objectives.

    Args:
        text: Comma-separated ``metric:direction`` items (direction omitted: :func:`default_mode`).
        known: The metrics a trial reports.
        option: Named in the error messages.

    Raises:
        ValueError: One line: an unknown metric (listing ``known``), a bad direction, a repeat.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    objectives: list[Objective] = []
    for item in items:
        metric, sep, mode = str(item).strip().partition(":")
        metric, mode = metric.strip(), mode.strip()
        if not metric:
            raise ValueError(f"{option}: expected METRIC:min|max,METRIC:min|max,…, got {text!r}.")
        if metric not in known:
            raise ValueError(f"{option}: unknown metric {metric!r}; trials report {', '.join(known)}.")
        if sep and mode not in ("min", "max"):
            raise ValueError(f"{option}: the direction of {metric!r} must be min or max, got {mode!r}.")
        if any(o.metric == metric for o in objectives):
            raise ValueError(f"{option}: {metric!r} is named twice.")
        objectives.append(Objective(metric, mode if sep else default_mode(metric)))
    return objectives


def parse_constraint(text: str, known: Sequence[str], option: str = "--constraint") -> Constraint:
    """``METRIC<=VALUE`` (or ``>=``, ``<``, ``>``) → a constraint.

    Raises:
        ValueError: One line: the text does not parse, or the metric is not measured.
    """
    match = _CONSTRAINT.match(str(text))
    if match is None:
        raise ValueError(
            f"{option}: cannot read {text!r}; expected METRIC<=VALUE (operators <=, >=, <, >), e.g. latency_ms<=20."
        )
    metric, op, bound = match.groups()
    if metric not in known:
        raise ValueError(f"{option} {text!r}: {metric!r} is not measured; a constraint may name {', '.join(known)}.")
    return Constraint(metric, op, float(bound))  # type: ignore[arg-type]


def pareto_front(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Which rows of ``values`` (trials × objectives) no other row dominates.

    Row a dominates row b when a is at least as good on every objective and better on one
    (``modes``: ``min`` or ``max`` per column). A row with a NaN is never on the front and
    dominates nothing; equal rows are both on it.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(modes):
        raise ValueError(f"values must be (trials, {len(modes)}), got shape {values.shape}.")
    sign = np.array([1.0 if m == "min" else -1.0 for m in modes])
    costs = values * sign  # lower is better on every column
    valid = ~np.isnan(costs).any(axis=1)
    front = valid.copy()
    for i in np.flatnonzero(valid):
        others = costs[valid]
        dominated = (others <= costs[i]).all(axis=1) & (others < costs[i]).any(axis=1)
        front[i] = not dominated.any()
    return front


def feasible(frame: pd.DataFrame, constraints: Sequence[Constraint]) -> pd.Series:
    """Whether each row of ``trials.csv`` meets every constraint (a missing column or value does not)."""
    ok = pd.Series(True, index=frame.index)
    for constraint in constraints:
        column = frame[constraint.metric] if constraint.metric in frame else pd.Series(np.nan, index=frame.index)
        ok &= column.map(lambda v, c=constraint: c.holds(None if pd.isna(v) else float(v)))
    return ok


def annotate(frame: pd.DataFrame, objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> pd.DataFrame:
    """``trials.csv`` with a ``feasible`` column (constraints given) and a ``pareto`` column (several objectives).

    The front is computed over the finished (completed or pruned), feasible trials.
    """
    if not len(frame) or (not constraints and len(objectives) < 2):
        return frame
    frame = frame.drop(columns=[FEASIBLE, PARETO], errors="ignore")
    at = list(frame.columns).index("status") + 1 if "status" in frame else len(frame.columns)
    ok = feasible(frame, constraints)
    if len(objectives) >= 2:
        candidates = frame["status"].isin(FINISHED) & ok
        columns = [o.metric for o in objectives]
        on_front = pd.Series(False, index=frame.index)
        if all(c in frame for c in columns) and candidates.any():
            values = frame.loc[candidates, columns].apply(pd.to_numeric, errors="coerce")
            on_front[values.index] = pareto_front(values.to_numpy(dtype=float), [o.mode for o in objectives])
        frame.insert(at, PARETO, on_front)
    if constraints:
        frame.insert(at, FEASIBLE, ok)
    return frame
