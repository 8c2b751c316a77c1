"""Cross-validation of the best trials of a search and the paper's baselines, with a report."""

from __future__ import annotations

from raycxr.cv._configs import (
    BASELINES,
    MULTILABEL_BASELINES,
    PAPER,
    PUBLISHED_TABLE1,
    REFERENCE,
    SELECTION_METRIC,
    TABLE1,
    baseline_names,
    configurations,
    read_experiment,
    selection_metric,
    top_trials,
)
from raycxr.cv._cv import CVResult, CVSettings, run_cv
from raycxr.cv._report import comparisons_table, folds_table, summary_table
from raycxr.cv._stats import PairedTest, corrected_resampled_ttest

__all__ = [
    "BASELINES",
    "MULTILABEL_BASELINES",
    "PAPER",
    "PUBLISHED_TABLE1",
    "REFERENCE",
    "SELECTION_METRIC",
    "TABLE1",
    "CVResult",
    "CVSettings",
    "PairedTest",
    "baseline_names",
    "comparisons_table",
    "configurations",
    "corrected_resampled_ttest",
    "folds_table",
    "read_experiment",
    "run_cv",
    "selection_metric",
    "summary_table",
    "top_trials",
]
