"""The end of a search: ``best_config.json``, the Pareto figure, orphaned Optuna trials, the upload."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from raycxr.experiment import BEST_FILE, PARETO_PNG, RECORD_FILES, TRIALS_FILE, read_trials
from raycxr.tune._plan import SearchPlan
from raycxr.tune._plot import plot_pareto
from raycxr.tune._results import write_best
from raycxr.tune._searcher import fail_orphaned_trials
from raycxr.tune._storage import upload


@dataclasses.dataclass
class SearchResult:
    """What ``run_search`` returns: the trials table, the best configuration, where they are."""

    plan: SearchPlan
    trials: pd.DataFrame
    best: dict[str, Any] | None
    interrupted: bool
    nested: pd.DataFrame | None = None  #: one row per outer fold of a nested CV (``--nested``)


def finish(plan: SearchPlan) -> SearchResult:
    """Write the search's results from ``trials.csv`` (also of an interrupted search) and return them."""
    trials = read_trials(plan.directory)
    best = None
    if len(trials):
        best = write_best(plan.directory, trials, plan.metric, plan.mode, plan.objectives, plan.constraints)
        if plan.multi and best is not None:
            plot_pareto(plan.directory / TRIALS_FILE, plan.objectives, plan.directory / PARETO_PNG)
    finished = trials["status"].isin(["completed", "pruned", "errored"]).sum() if len(trials) else 0
    interrupted = finished < plan.num_samples
    if not interrupted:
        fail_orphaned_trials(plan)
    if plan.settings.is_uri:
        upload(plan.directory, plan.experiment_path, (TRIALS_FILE, BEST_FILE, PARETO_PNG, *RECORD_FILES))
    return SearchResult(plan, trials, best, interrupted)
