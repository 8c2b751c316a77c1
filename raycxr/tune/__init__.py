"""Hyperparameter search: Ray Tune + Optuna over Ray Train runs of the Mobile Freeze-Net."""

from __future__ import annotations

from raycxr.tune._results import BEST_FILE, TRIALS_FILE, error_reason
from raycxr.tune._search import (
    EXPERIMENT_FILE,
    METRICS,
    STUDY_FILE,
    SearchPlan,
    SearchResult,
    plan_search,
    run_search,
)
from raycxr.tune._settings import TuneSettings
from raycxr.tune._space import SearchSpace, load_space, make_sampler
from raycxr.tune._trial import ExperimentData, Scaling, TrialConfigs, best_metrics, run_trial, train_worker

__all__ = [
    "BEST_FILE",
    "EXPERIMENT_FILE",
    "METRICS",
    "STUDY_FILE",
    "TRIALS_FILE",
    "ExperimentData",
    "Scaling",
    "SearchPlan",
    "SearchResult",
    "SearchSpace",
    "TrialConfigs",
    "TuneSettings",
    "best_metrics",
    "error_reason",
    "load_space",
    "make_sampler",
    "plan_search",
    "run_search",
    "run_trial",
    "train_worker",
]
