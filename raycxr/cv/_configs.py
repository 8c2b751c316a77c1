"""Which configurations a cross-validation evaluates: the search's top-k and the paper's baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from raycxr.tune import EXPERIMENT_FILE, TRIALS_FILE, SearchSpace, trial_params

#: The paper's configuration (Roy & Khurana): Mobile Freeze-Net with the attention loss.
PAPER = {
    "loss": "attention",
    "beta": 0.05,
    "gamma": 0.1,
    "q": 0.25,
    "n": 0.001,
    "freeze_ratio": 0.5,
    "freeze_mode": "prefix",
    "lr": 1e-4,
}
#: The paper's baselines, each changing one thing of ``PAPER``.
BASELINES: dict[str, dict[str, Any]] = {
    "paper": PAPER,
    "paper-ce": PAPER | {"loss": "ce"},
    "finetune-100": PAPER | {"freeze_ratio": 0.0},
    "stochastic-50": PAPER | {"freeze_mode": "stochastic"},
}
REFERENCE = "paper"


def read_experiment(directory: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The search's stored record (settings, space) and its trials table.

    Raises:
        ValueError: Not a raycxr experiment folder.
    """
    record_file, trials_file = directory / EXPERIMENT_FILE, directory / TRIALS_FILE
    if not record_file.is_file():
        raise ValueError(f"{directory} is not a raycxr search experiment (no {EXPERIMENT_FILE}).")
    record = json.loads(record_file.read_text())
    trials = pd.read_csv(trials_file) if trials_file.is_file() and trials_file.stat().st_size else pd.DataFrame()
    return record, trials


def top_trials(trials: pd.DataFrame, metric: str, mode: str, k: int, directory: Path) -> pd.DataFrame:
    """The ``k`` best finished trials.

    Raises:
        ValueError: No finished trials, or fewer than ``k``.
    """
    finished = trials[trials["status"].isin(["completed", "pruned"])] if len(trials) else trials
    finished = finished[finished[metric].notna()] if metric in finished else finished.iloc[:0]
    if k and not len(finished):
        raise ValueError(f"{directory}: the search has no finished trials to cross-validate.")
    if k > len(finished):
        raise ValueError(f"--top-k {k}: the search has only {len(finished)} finished trial(s).")
    return finished.sort_values(metric, ascending=mode == "min").head(k)


def configurations(
    record: dict[str, Any],
    trials: pd.DataFrame,
    metric: str,
    mode: str,
    top_k: int,
    baselines: list[str],
    directory: Path,
) -> dict[str, dict[str, Any]]:
    """Name → training settings (everything but the data and the split) of every configuration."""
    space = SearchSpace(**record["space"])
    base = _base(record)
    configs: dict[str, dict[str, Any]] = {}
    for rank, (_, row) in enumerate(top_trials(trials, metric, mode, top_k, directory).iterrows(), start=1):
        params = trial_params(row)
        configs[f"top{rank}-{row['trial_id']}"] = space.settings(params, base)
    for name in baselines:
        configs[name] = {**space.fixed, **base, **BASELINES[name]}
    return configs


def _base(record: dict[str, Any]) -> dict[str, Any]:
    """The settings the search gave outside its space (``--set``, demo defaults, seed)."""
    from raycxr.tune import TuneSettings

    settings = TuneSettings(**record["settings"])
    return settings.overrides() | {"seed": settings.seed}
