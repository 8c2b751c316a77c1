"""What a search leaves behind besides Tune's trial folders: ``trials.csv``, ``best_config.json``.

``trials.csv`` is rewritten by a Tune callback whenever a trial ends, so an interrupted
search still has every finished trial on disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune import Callback
from ray.tune.experiment import Trial

from raycxr.experiment import (
    BEST_FILE,
    CONFIG_COLUMN,
    PARAM_PREFIX,
    TRIALS_FILE,
    jsonable,
    trial_params,
    write_atomic,
    write_json,
    write_trial_config,
)
from raycxr.train import TrainConfig
from raycxr.tune._objectives import FINISHED, MODEL_METRICS, PARETO, Constraint, Objective, annotate
from raycxr.tune._trial import BEST_PREFIX, TrialConfigs

_ERROR_LINE = re.compile(r"(\w+(?:Error|Exception)): (.+)")


def error_reason(text: str) -> str:
    """The innermost ``SomeError: message`` line of a (possibly nested) Ray traceback."""
    matches = [m for line in text.splitlines() if (m := _ERROR_LINE.search(line))]
    if not matches:
        return text.strip().splitlines()[-1] if text.strip() else "unknown error"
    name, message = matches[-1].groups()
    return f"{name}: {message.strip()}"


def trial_status(trial: Trial, configs: TrialConfigs, status: str | None = None) -> str:
    """``completed``, ``pruned`` (stopped by the scheduler), ``errored``, ``running`` or ``pending``.

    A trial that never reported (stopped before its first epoch by an interrupted search)
    is ``pending``: a resumed search runs it.

    Args:
        trial: The trial.
        configs: Maps its parameters to its training configuration (epochs, patience).
        status: Tune's status to judge the trial by, instead of ``trial.status``.
    """
    status = status or trial.status
    if status == Trial.ERROR:
        return "errored"
    result = trial.last_result or {}
    epoch, best = result.get("epoch"), result.get("best_epoch")
    if status != Trial.TERMINATED or epoch is None or best is None:
        return "running" if status == Trial.RUNNING else "pending"
    return "completed" if finished_training(result, configs.train_config(trial.config)) else "pruned"


def finished_training(result: Mapping[str, Any], cfg: TrainConfig) -> bool:
    """Whether a trial whose last report is ``result`` ended by itself, not stopped by the scheduler.

    It did when it trained every epoch of ``cfg`` or early stopping ended it (``patience``
    epochs without a better validation result). ``result`` must have ``epoch`` and ``best_epoch``.
    """
    epoch, best = result["epoch"], result["best_epoch"]
    return epoch >= cfg.epochs or epoch - best >= cfg.patience


def resolved_config(trial: Trial, configs: TrialConfigs) -> dict[str, Any]:
    """The trial's full training configuration (JSON-ready), as its job trains it."""
    return configs.train_config(trial.config).model_dump(mode="json")


def trial_row(
    trial: Trial, configs: TrialConfigs, metric: str | Sequence[str], status: str | None = None
) -> dict[str, Any]:
    """One line of ``trials.csv``: id, status, parameters, the objective(s), metrics, error, configuration.

    ``metric`` is the objective, or the objectives and constrained metrics (one column each).
    ``status`` overrides Tune's status of the trial (see :func:`trial_status`).
    """
    result = trial.last_result or {}
    row: dict[str, Any] = {"trial_id": trial.trial_id, "status": trial_status(trial, configs, status)}
    row |= {f"{PARAM_PREFIX}{k}": v for k, v in trial.config.items()}
    for name in [metric] if isinstance(metric, str) else metric:
        row[name] = result.get(name)
    row["epochs"] = result.get("epoch")
    row["best_epoch"] = result.get("best_epoch")
    row |= {k: v for k, v in result.items() if k.startswith(BEST_PREFIX)}
    row["world_size"] = result.get("world_size")
    row["node"] = result.get("node")
    row["resumed_from_epoch"] = result.get("resumed_from_epoch")
    row["seconds"] = result.get("time_total_s")
    row["error"] = ""
    if trial.status == Trial.ERROR:
        error = trial.get_error()
        row["error"] = error_reason(str(error)) if error is not None else "unknown error"
    row["trial_dir"] = Path(trial.path).name if trial.path else ""
    row[CONFIG_COLUMN] = json.dumps(jsonable(resolved_config(trial, configs)), sort_keys=True)
    return row


def trials_frame(
    trials: list[Trial], configs: TrialConfigs, metric: str | Sequence[str], ended: Trial | None = None
) -> pd.DataFrame:
    """The rows of ``trials``, by trial id; ``ended`` is written as ``TERMINATED`` whatever its status."""
    rows = [
        trial_row(t, configs, metric, Trial.TERMINATED if t is ended else None)
        for t in sorted(trials, key=lambda t: t.trial_id)
    ]
    return pd.DataFrame(rows)


def table_metrics(
    metric: str, objectives: Sequence[Objective] = (), constraints: Sequence[Constraint] = ()
) -> list[str]:
    """The metric columns of ``trials.csv``: the objective(s), then the constrained metrics."""
    return list(dict.fromkeys([metric, *(o.metric for o in objectives), *(c.metric for c in constraints)]))


class TrialsTable(Callback):
    """Records each trial's resolved configuration when it starts; rewrites ``trials.csv`` each time one ends.

    With ``constraints`` it has a ``feasible`` column; with several ``objectives`` a
    ``pareto`` column (the front of the trials finished so far).
    """

    #: Class-level defaults, so a callback pickled before they existed still restores.
    objectives: tuple[Objective, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    def __init__(
        self,
        directory: Path,
        configs: TrialConfigs,
        metric: str,
        objectives: Sequence[Objective] = (),
        constraints: Sequence[Constraint] = (),
    ) -> None:
        self.directory = directory
        self.configs = configs
        self.metric = metric
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)

    def write(self, trials: list[Trial], ended: Trial | None = None) -> None:
        metrics = table_metrics(self.metric, self.objectives, self.constraints)
        frame = trials_frame(trials, self.configs, metrics, ended)
        frame = annotate(frame, self.objectives, self.constraints)
        write_atomic(self.directory / TRIALS_FILE, frame.to_csv(index=False))

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        write_trial_config(self.directory, trial.trial_id, resolved_config(trial, self.configs))

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        # Tune calls this before it sets the trial's status to TERMINATED (it is still
        # RUNNING, or PENDING/PAUSED), so the row of ``trial`` is written as the trial ends.
        self.write(trials, ended=trial)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.write(trials)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self.write(trials)


def best_trial(frame: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    """The row with the best ``metric`` among finished (completed or pruned) trials (feasible ones, if marked)."""
    done = frame[frame["status"].isin(FINISHED)] if len(frame) else frame
    if "feasible" in done:
        done = done[done["feasible"].astype(bool)]
    if metric not in done or done[metric].isna().all():
        return None
    index = done[metric].idxmax() if mode == "max" else done[metric].idxmin()
    return done.loc[index]


def _trial_entry(row: pd.Series) -> dict[str, Any]:
    """A trial of ``best_config.json``: parameters, full training config (as recorded), metrics, where it lies."""
    params = trial_params(row)
    metrics = {k: float(v) for k, v in row.items() if k.startswith(BEST_PREFIX) and pd.notna(v)}
    metrics |= {k: float(row[k]) for k in MODEL_METRICS if k in row and pd.notna(row[k])}
    config = {k: v for k, v in json.loads(row[CONFIG_COLUMN]).items() if k not in ("data", "out")}
    return {
        "params": params,
        "train_config": config,
        "metrics": metrics,
        "epochs": row["epochs"],
        "best_epoch": row["best_epoch"],
        "trial_dir": row["trial_dir"],
    }


def write_best(
    directory: Path,
    frame: pd.DataFrame,
    metric: str,
    mode: str,
    objectives: Sequence[Objective] = (),
    constraints: Sequence[Constraint] = (),
) -> dict | None:
    """Write ``best_config.json`` and return it (``None`` when no trial qualifies).

    One objective: the best (feasible) trial's parameters, full training config and metrics.
    Several: the Pareto front of the finished feasible trials (``pareto``, best first by the
    first objective), each trial with its objective values, parameters, config and metrics.
    """
    frame = annotate(frame, objectives, constraints)
    if len(objectives) >= 2:
        return _write_front(directory, frame, objectives, constraints)
    row = best_trial(frame, metric, mode)
    if row is None:
        return None
    entry = _trial_entry(row)
    best = {"trial_id": row["trial_id"], "metric": metric, "mode": mode, "value": float(row[metric]), **entry}
    if constraints:
        best["constraints"] = [str(c) for c in constraints]
    best = jsonable(best)
    write_json(directory / BEST_FILE, best)
    return best


def _write_front(
    directory: Path,
    frame: pd.DataFrame,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
) -> dict | None:
    front = frame[frame[PARETO].astype(bool)] if PARETO in frame else frame.iloc[:0]
    if not len(front):
        return None
    first = objectives[0]
    front = front.sort_values(first.metric, ascending=first.mode == "min", kind="stable")
    entries = [
        {
            "trial_id": row["trial_id"],
            "values": {o.metric: float(row[o.metric]) for o in objectives},
            **_trial_entry(row),
        }
        for _, row in front.iterrows()
    ]
    best = {
        "objectives": [{"metric": o.metric, "mode": o.mode} for o in objectives],
        "constraints": [str(c) for c in constraints],
        "pareto": entries,
    }
    best = jsonable(best)
    write_json(directory / BEST_FILE, best)
    return best
