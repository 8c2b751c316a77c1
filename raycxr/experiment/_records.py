"""Reading and writing an experiment's records: JSON files, ``trials.csv``, each trial's configuration.

A trial's **resolved configuration** (every field of its ``TrainConfig``) is written once, by
the search's driver when the trial starts, into ``trial_<id>/train_config.json`` and the
``train_config`` column of ``trials.csv``. Everything that later needs a trial's configuration
(the CV, predict, export, nested CV, ``best_config.json``) reads it from there; nobody rebuilds it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from raycxr.experiment._layout import MODEL_FILE, REFIT_FILE, TRIAL_CONFIG_FILE, CVFolder, Experiment

#: The ``trials.csv`` column holding a trial's resolved configuration (JSON).
CONFIG_COLUMN = "train_config"
PARAM_PREFIX = "param_"


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` and paths as strings (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, anything else JSON cannot hold as its string."""
    return value.item() if hasattr(value, "item") else str(value)


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as strict JSON (see :func:`jsonable`), atomically."""
    write_atomic(path, json.dumps(jsonable(value), indent=2, default=_plain))


def read_json(path: Path) -> Any:
    """A JSON file's content.

    Raises:
        ValueError: The file is missing or not JSON (one line naming it).
    """
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read it ({type(error).__name__}: {error}).") from None


def read_record(directory: Path) -> dict[str, Any]:
    """The experiment's ``raycxr.json`` (settings, space, classes).

    Raises:
        ValueError: Not a raycxr search experiment.
    """
    experiment = Experiment(directory)
    if not experiment.record_file.is_file():
        raise ValueError(f"{directory} is not a raycxr search experiment (no {experiment.record_file.name}).")
    return read_json(experiment.record_file)


def read_trials(directory: Path) -> pd.DataFrame:
    """``trials.csv`` (trial ids as strings), empty when the search has no finished trial yet."""
    path = Experiment(directory).trials_file
    if not path.is_file() or not path.stat().st_size:
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"trial_id": str})


def trial_params(row: pd.Series) -> dict[str, Any]:
    """The searched parameters of a ``trials.csv`` row (plain Python values, unset ones left out)."""
    params = {k.removeprefix(PARAM_PREFIX): v for k, v in row.items() if k.startswith(PARAM_PREFIX) and pd.notna(v)}
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def write_trial_config(directory: Path, trial_id: str, config: dict[str, Any]) -> None:
    """Record a trial's resolved configuration in its folder (done once, when the trial starts)."""
    folder = Experiment(directory).trial_dir(trial_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / TRIAL_CONFIG_FILE, config)


def trial_config(directory: Path, trial_id: str, row: pd.Series | None = None) -> dict[str, Any]:
    """A trial's resolved training configuration: its ``train_config.json``, else its ``trials.csv`` row.

    Args:
        directory: The experiment folder.
        trial_id: The trial.
        row: Its ``trials.csv`` row, when the caller has it.

    Raises:
        ValueError: Neither holds it (an experiment of an older raycxr, which rebuilt
            configurations instead of recording them: run the search again).
    """
    file = Experiment(directory).trial_dir(trial_id) / TRIAL_CONFIG_FILE
    if file.is_file():
        return read_json(file)
    if row is None:
        trials = read_trials(directory)
        found = trials[trials["trial_id"] == str(trial_id)] if "trial_id" in trials else trials
        row = found.iloc[0] if len(found) else None
    value = row.get(CONFIG_COLUMN) if row is not None else None
    if isinstance(value, str) and value:
        return json.loads(value)
    raise ValueError(
        f"{directory}: trial {trial_id} has no recorded training configuration ({file.parent.name}/{TRIAL_CONFIG_FILE} "
        f"or the {CONFIG_COLUMN} column of trials.csv): the experiment was made by an older raycxr; run the search "
        "again."
    )


def read_selection(cv: CVFolder) -> dict[str, Any]:
    """A CV's ``selection.json``: the selected configuration, every evaluated one, the refits kept.

    Raises:
        ValueError: It is missing (a CV that has not finished, or one of an older raycxr,
            which kept no refit weights).
    """
    if not cv.selection_file.is_file():
        raise ValueError(
            f"{cv.directory}: no {cv.selection_file.name}: the cross-validation has not finished, or an older raycxr "
            f"ran it without keeping the refit weights; run it again: python -m raycxr.cv {cv.directory.parent}"
        )
    return read_json(cv.selection_file)


def refit_files(cv: CVFolder, config: str) -> tuple[dict[str, Any], Path]:
    """The refit of ``config``: its ``refit.json`` and the path of its weights.

    Raises:
        ValueError: The CV did not evaluate ``config`` (the message lists what it did), or did
            not keep its weights.
    """
    selection = read_selection(cv)
    evaluated = list(selection.get("evaluated", []))
    if config not in evaluated:
        raise ValueError(f"--config {config!r}: the CV evaluated {', '.join(evaluated) or 'nothing'}.")
    if not selection.get("test_set", True):
        raise ValueError(
            f"{cv.directory}: the experiment keeps no test set (--test-fraction 0), so the CV refit no configuration; "
            "load the experiment folder (its best trial) instead."
        )
    if config not in selection.get("refits", {}):
        kept = ", ".join(selection.get("refits", {})) or "none"
        raise ValueError(
            f"{cv.directory}: the refit weights of {config!r} were not kept (--keep-refits "
            f"{selection.get('keep_refits')}; kept: {kept})."
        )
    folder = cv.directory / selection["refits"][config]
    return read_json(folder / REFIT_FILE), folder / MODEL_FILE
