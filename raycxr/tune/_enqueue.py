"""Warm start: points a search evaluates first (``--enqueue paper`` or ``--enqueue FILE``).

A point is a dict of the space's parameters (searched names: a preset categorical by its
choice's name). Each is checked against the space before Ray starts: every parameter the
space suggests for that point must be set, to a value inside its range or among its
choices, and nothing else. The points go to Optuna's queue through ``OptunaSearch``'s
``points_to_evaluate``: the first trials are these points, in order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from raycxr.tune._space import CategoricalParam, FloatParam, IntParam, SearchSpace, _holds

#: The paper's configuration (Roy & Khurana, SAC 2023): Mobile Freeze-Net — MobileNetV2, the
#: first half of its layers frozen — with the attention loss, Adam at a constant 1e-4, and a
#: plain recipe: no augmentation, weight decay, label smoothing, gradient clipping or EMA.
PAPER_POINT: dict[str, Any] = {
    "backbone": "mobilenet_v2",
    "loss": "attention",
    "beta": 0.05,
    "gamma": 0.1,
    "q": 0.25,
    "n": 0.001,
    "freeze_ratio": 0.5,
    "freeze_mode": "prefix",
    "lr": 1e-4,
    "optimizer": "adam",
    "schedule": "constant",
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "grad_clip_norm": 0.0,
    "ema_decay": 0.0,
    "augment": "none",
}


def paper_point(space: SearchSpace, base: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The paper's configuration as a point of ``space``, and notes on what the space keeps from it.

    The point holds the parameters ``space`` searches, set to the paper's values (a preset
    categorical: the choice whose settings agree with the paper's). The paper's settings the
    space does not search train with the space's values; each one that differs is a note.

    Raises:
        ValueError: A searched parameter the paper's configuration does not set, or a preset
            none of whose choices agrees with it.
    """
    base = dict(base or {})
    point: dict[str, Any] = {}
    for name, param in space.params.items():
        if not _holds(param.when, {**space.fixed, **base, **point}):
            continue  # not searched for this point
        if isinstance(param, CategoricalParam) and param.is_preset:
            touching = {c: v for c, v in param.choices.items() if any(k in PAPER_POINT for k in v)}
            agree = [c for c, v in touching.items() if all(PAPER_POINT.get(k, x) == x for k, x in v.items())]
            if agree:
                point[name] = agree[0]
                continue
            if touching:
                raise ValueError(
                    f"--enqueue paper: no choice of parameter {name!r} agrees with the paper's configuration "
                    f"({_paper_text()})."
                )
        elif name in PAPER_POINT:
            point[name] = PAPER_POINT[name]
            continue
        raise ValueError(
            f"--enqueue paper: the space searches {name!r}, which the paper's configuration does not set "
            f"({_paper_text()})."
        )
    settings = space.settings(point, base)
    notes = [
        f"{key}={settings[key]!r} (the paper's is {value!r})"
        for key, value in PAPER_POINT.items()
        if key in settings and settings[key] != value
    ]
    return point, notes


def _paper_text() -> str:
    return ", ".join(f"{k} {v}" for k, v in PAPER_POINT.items())


def read_points(path: Path) -> list[dict[str, Any]]:
    """The points of a JSON or YAML file.

    The file holds a list of parameter dicts; a dict with ``params`` (a ``best_config.json``
    or one of its ``pareto`` entries) counts as its ``params``, and a dict with ``pareto``
    as its list.

    Raises:
        ValueError: A missing file, unreadable content, or not a list of dicts.
    """
    if not path.is_file():
        raise ValueError(f"--enqueue: {path} does not exist (give 'paper' or a JSON/YAML file).")
    try:
        text = path.read_text()
        content = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ValueError(f"--enqueue {path}: cannot read it: {str(error).splitlines()[0]}") from None
    if isinstance(content, dict) and isinstance(content.get("pareto"), list):
        content = content["pareto"]
    elif isinstance(content, dict) and "params" in content:
        content = [content]
    if not isinstance(content, list) or not content:
        raise ValueError(f"--enqueue {path}: expected a list of parameter dicts, got {type(content).__name__}.")
    points = []
    for i, item in enumerate(content, start=1):
        if isinstance(item, dict) and isinstance(item.get("params"), dict):
            item = item["params"]
        if not isinstance(item, dict):
            raise ValueError(f"--enqueue {path}: point {i} is not a dict of parameters (got {item!r}).")
        points.append(item)
    return points


def check_point(point: dict[str, Any], space: SearchSpace, base: dict[str, Any] | None = None) -> str | None:
    """Why ``point`` is not a point of ``space`` (one phrase naming the parameter and value), or ``None``."""
    values: dict[str, Any] = {**space.fixed, **(base or {})}
    for name in point:
        if name not in space.params:
            return f"unknown parameter {name!r} = {point[name]!r} (the space searches {', '.join(space.params)})"
    for name, param in space.params.items():
        active = _holds(param.when, values)
        if not active:
            if name in point:
                return f"parameter {name!r} = {point[name]!r} is not searched here (its condition {param.when} fails)"
            continue
        if name not in point:
            return f"parameter {name!r} is not set"
        value = point[name]
        problem = _value_problem(param, value)
        if problem:
            return f"parameter {name!r} = {value!r} {problem}"
        values[name] = value
    return None


def _value_problem(param: FloatParam | IntParam | CategoricalParam, value: Any) -> str | None:
    if isinstance(param, CategoricalParam):
        same = [c for c in param.values if c == value and isinstance(c, bool) == isinstance(value, bool)]
        return None if same else f"is not one of {param.values}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"is not a number ({param.type} in [{param.low}, {param.high}])"
    if isinstance(param, IntParam) and value != int(value):
        return f"is not an integer (int in [{param.low}, {param.high}])"
    if not param.low <= value <= param.high:
        return f"is outside [{param.low}, {param.high}]"
    step = param.step if isinstance(param, IntParam) or param.step is not None else None
    if step is not None and step != 1:
        steps = (value - param.low) / step
        if not math.isclose(steps, round(steps), abs_tol=1e-9):
            return f"is not on the grid {param.low} + k·{step}"
    return None


def enqueue_points(
    spec: str, space: SearchSpace, base: dict[str, Any] | None = None, num_samples: int | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """``--enqueue``: ``paper`` or a file → checked points (int parameters as ints), and notes.

    Raises:
        ValueError: One line naming the file, the point (1-based), the parameter and the value.
    """
    if spec == "paper":
        point, notes = paper_point(space, base)
        points, where = [point], "--enqueue paper"
    else:
        path = Path(spec).expanduser()
        points, notes, where = read_points(path), [], f"--enqueue {path}"
    for i, point in enumerate(points, start=1):
        problem = check_point(point, space, base)
        if problem:
            raise ValueError(f"{where}: point {i}: {problem}.")
    if num_samples is not None and len(points) > num_samples:
        raise ValueError(f"{where}: {len(points)} points but only {num_samples} trials (--num-samples).")
    points = [_typed(point, space) for point in points]
    return points, notes


def _typed(point: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Int parameters as ``int`` and float ones as ``float`` (a YAML ``1`` for a float range is fine)."""
    typed = {}
    for name, value in point.items():
        param = space.params[name]
        if isinstance(param, IntParam):
            value = int(value)
        elif isinstance(param, FloatParam):
            value = float(value)
        typed[name] = value
    return typed


def describe(points: Sequence[dict[str, Any]]) -> str:
    """The points in one line each, for the search's start message."""
    return "\n".join(
        "  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items()) for p in points
    )
