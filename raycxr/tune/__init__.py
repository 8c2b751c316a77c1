"""Hyperparameter search: Ray Tune + Optuna over Ray Train runs of the Mobile Freeze-Net."""

from __future__ import annotations

from raycxr.tune._results import BEST_FILE, TRIALS_FILE, error_reason, trial_params
from raycxr.tune._search import (
    DEFAULT_METRIC,
    EXPERIMENT_FILE,
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
    "METRICS",
    "STUDY_FILE",
    "TRIALS_FILE",
    "ExperimentData",
    "SearchPlan",
    "SearchResult",
    "SearchSpace",
    "TrialConfigs",
    "TuneSettings",
    "best_metrics",
    "demo_data",
    "error_reason",
    "load_space",
    "make_sampler",
    "plan_search",
    "run_search",
    "search_job",
    "trial_params",
]
