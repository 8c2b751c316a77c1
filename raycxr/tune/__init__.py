"""Hyperparameter search: Ray Tune + Optuna over Ray Train runs of the Mobile Freeze-Net."""

from __future__ import annotations

from raycxr.tune._enqueue import PAPER_POINT
from raycxr.tune._measure import count_macs, count_params, latency_ms, model_metrics
from raycxr.tune._objectives import MODEL_METRICS, Constraint, Objective, pareto_front
from raycxr.tune._plot import PARETO_PNG, plot_pareto
from raycxr.tune._results import BEST_FILE, TRIALS_FILE, error_reason, trial_params
from raycxr.tune._search import (
    DEFAULT_METRIC,
    EXPERIMENT_FILE,
    MEASURABLE,
    METRICS,
    STUDY_FILE,
    SearchPlan,
    SearchResult,
    demo_data,
    plan_search,
    run_search,
)
from raycxr.tune._settings import TuneSettings
from raycxr.tune._space import SearchSpace, load_space, make_sampler
from raycxr.tune._trial import ExperimentData, TrialConfigs, best_metrics, search_job

__all__ = [
    "BEST_FILE",
    "DEFAULT_METRIC",
    "EXPERIMENT_FILE",
    "MEASURABLE",
    "METRICS",
    "MODEL_METRICS",
    "PAPER_POINT",
    "PARETO_PNG",
    "STUDY_FILE",
    "TRIALS_FILE",
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
    "latency_ms",
    "load_space",
    "make_sampler",
    "model_metrics",
    "pareto_front",
    "plan_search",
    "plot_pareto",
    "run_search",
    "search_job",
    "trial_params",
]
