"""Statistics for an honest clinical evaluation of a classifier on held-out data.

Confidence intervals by a bootstrap that resamples the unit the test set was drawn by (images
stratified by class, or whole groups), their coverage by simulation, paired model comparisons (paired bootstrap,
McNemar, DeLong), calibration (ECE, Brier, reliability, temperature scaling), out-of-distribution scores calibrated on
validation, operating points
chosen on validation and evaluated on test, precision-recall, subgroup tables and plots.

Inputs are integer labels ``y_true`` of shape (n,), class probabilities ``proba`` of shape
(n, K) whose rows sum to 1, and optionally groups/subgroups of shape (n,). Bad inputs raise
``ValueError`` naming the argument. A multi-label task's metrics and per-label thresholds
(:func:`multilabel_metrics`, :func:`choose_thresholds`) take an (n, L) label table with NaN for
unknown entries and per-label probabilities (n, L); :func:`multilabel_bootstrap` gives their intervals and paired
differences on the same resamples, :func:`label_calibration` each label's ECE and Brier score.
"""

from __future__ import annotations

from raycxr.evaluation._bootstrap import Interval, PairedDifference, bootstrap_ci, paired_bootstrap
from raycxr.evaluation._calibration import (
    ReliabilityCurve,
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
from raycxr.evaluation._coverage import Coverage, Population, bootstrap_coverage, simulate_population
from raycxr.evaluation._decision import (
    RULES,
    DecisionRule,
    OODVerdict,
    decide_rule,
    default_rule,
    positive_class,
    youden_threshold,
)
from raycxr.evaluation._design import MIN_GROUPS, Design, resampling_design
from raycxr.evaluation._mahalanobis import FEATURE_SCORE, FeatureOOD, fit_feature_ood
from raycxr.evaluation._metrics import (
    BINARY_METRICS,
    SCALAR_METRICS,
    TASK_METRICS,
    accuracy,
    classification_metrics,
    confusion_counts,
    f1_from_counts,
    macro_auc,
    macro_f1,
)
from raycxr.evaluation._multilabel import (
    MULTILABEL_METRICS,
    PER_LABEL_METRICS,
    choose_thresholds,
    multilabel_metrics,
)
from raycxr.evaluation._multilabel_bootstrap import MultilabelBootstrap, label_calibration, multilabel_bootstrap
from raycxr.evaluation._ood import (
    DEFAULT_OOD_QUANTILE,
    DEFAULT_OOD_SCORE,
    OOD_SCORES,
    OODCalibration,
    calibrate_ood,
    check_quantile,
    ood_scores,
)
from raycxr.evaluation._operating import (
    OperatingPoint,
    operating_point,
    threshold_at_sensitivity,
    threshold_at_specificity,
)
from raycxr.evaluation._plots import plot_precision_recall, plot_reliability
from raycxr.evaluation._precision_recall import PRCurve, average_precision_table, precision_recall_curves
from raycxr.evaluation._significance import DeLongResult, McNemarResult, delong_test, mcnemar
from raycxr.evaluation._subgroups import subgroup_table

__all__ = [
    "BINARY_METRICS",
    "DEFAULT_OOD_QUANTILE",
    "DEFAULT_OOD_SCORE",
    "FEATURE_SCORE",
    "MIN_GROUPS",
    "MULTILABEL_METRICS",
    "OOD_SCORES",
    "PER_LABEL_METRICS",
    "RULES",
    "SCALAR_METRICS",
    "TASK_METRICS",
    "Coverage",
    "DeLongResult",
    "DecisionRule",
    "Design",
    "FeatureOOD",
    "Interval",
    "McNemarResult",
    "MultilabelBootstrap",
    "OODCalibration",
    "OODVerdict",
    "OperatingPoint",
    "PRCurve",
    "PairedDifference",
    "Population",
    "ReliabilityCurve",
    "accuracy",
    "apply_temperature",
    "average_precision_table",
    "bootstrap_ci",
    "bootstrap_coverage",
    "brier_score",
    "calibrate_ood",
    "check_quantile",
    "choose_thresholds",
    "classification_metrics",
    "confusion_counts",
    "decide_rule",
    "default_rule",
    "delong_test",
    "expected_calibration_error",
    "f1_from_counts",
    "fit_feature_ood",
    "fit_temperature",
    "label_calibration",
    "macro_auc",
    "macro_f1",
    "mcnemar",
    "multilabel_bootstrap",
    "multilabel_metrics",
    "ood_scores",
    "operating_point",
    "paired_bootstrap",
    "plot_precision_recall",
    "plot_reliability",
    "positive_class",
    "precision_recall_curves",
    "reliability_curve",
    "resampling_design",
    "simulate_population",
    "subgroup_table",
    "threshold_at_sensitivity",
    "threshold_at_specificity",
    "youden_threshold",
]
