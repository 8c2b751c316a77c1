"""Hyperparameter search: Ray Tune + Optuna over Ray Train runs of the Mobile Freeze-Net.

The experiment's file names live in :mod:`raycxr.experiment` (importing this package imports Ray).
"""

from __future__ import annotations

from raycxr.tune._enqueue import PAPER_POINT
from raycxr.tune._finish import SearchResult, finish
from raycxr.tune._measure import count_macs, count_params, latency_ms, model_metrics
from raycxr.tune._nested import nested_summary, outer_folds, run_nested
from raycxr.tune._objectives import MODEL_METRICS, Constraint, Objective, pareto_front
from raycxr.tune._plan import DEFAULT_METRIC, MEASURABLE, METRICS, SearchPlan, demo_data, plan_search, resolve_space
from raycxr.tune._plot import plot_pareto
from raycxr.tune._results import error_reason
from raycxr.tune._search import run_search
from raycxr.tune._settings import TuneSettings
from raycxr.tune._space import SearchSpace, load_space, make_sampler
from raycxr.tune._trial import ExperimentData, TrialConfigs, best_metrics, search_job

__all__ = [
    "DEFAULT_METRIC",
    "MEASURABLE",
    "METRICS",
    "MODEL_METRICS",
    "PAPER_POINT",
    "Constraint",
    "ExperimentData",
    "Objective",
    "SearchPlan",
    "SearchResult",
    "SearchSpace",
    "TrialConfigs",
    "TuneSettings",
    "best_metrics",
    "count_macs",
    "count_params",
    "demo_data",
    "error_reason",
    "finish",
    "latency_ms",
    "load_space",
    "make_sampler",
    "model_metrics",
    "nested_summary",
    "outer_folds",
    "pareto_front",
    "plan_search",
    "plot_pareto",
    "resolve_space",
    "run_nested",
    "run_search",
    "search_job",
]
