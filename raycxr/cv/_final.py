"""The final test: every configuration refit on dev and scored once on the untouched test set.

Everything here reads the refit runs' predictions on test and their decision rules (decided
on their dev validation slice with the restored weights: threshold, temperature): metrics
with bootstrap confidence intervals, paired comparisons with the reference configuration,
calibration, operating points, precision-recall, subgroups. Every table predicts classes by
the configuration's rule, as ``predict`` does. Nothing is fitted on test rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from raycxr.evaluation import (
    DecisionRule,
    Design,
    accuracy,
    average_precision_table,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    macro_auc,
    macro_f1,
    mcnemar,
    operating_point,
    paired_bootstrap,
    plot_precision_recall,
    plot_reliability,
    positive_class,
    resampling_design,
    subgroup_table,
    threshold_at_sensitivity,
    threshold_at_specificity,
)
from raycxr.experiment import test_file

#: Metrics with a bootstrap CI on test (name → function of labels, probabilities and a decision rule).
METRICS = {"accuracy": accuracy, "f1_macro": macro_f1, "auc_ovr_macro": macro_auc}
#: Target specificities / sensitivities of the operating points (positive class vs rest).
TARGETS = (0.90, 0.95)


@dataclasses.dataclass(frozen=True)
class Predictions:
    """A refit configuration's class probabilities on its validation slice and on test, and its decision rule."""

    config: str
    val_y: np.ndarray
    val_proba: np.ndarray
    test_rows: np.ndarray
    test_y: np.ndarray
    test_proba: np.ndarray
    rule: DecisionRule
    #: Test images flagged out of distribution by the model's OOD score (as ``predict`` scores and judges them:
    #: :meth:`~raycxr.evaluation.DecisionRule.ood_verdict`), ``None`` when the model has no calibration.
    test_ood_flagged: np.ndarray | None = None

    def predicted(self) -> np.ndarray:
        """The predicted classes on test, by the configuration's rule."""
        return self.rule.predict(self.test_proba)

    def scorer(self, metric: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
        """``metric`` as ``f(y, proba)`` predicting by this configuration's rule (what the bootstrap resamples)."""
        return lambda y, proba: metric(y, proba, self.rule)


@dataclasses.dataclass
class FinalTest:
    """Tables of the final test (also written as CSV files) and its figures."""

    metrics: pd.DataFrame
    comparisons: pd.DataFrame
    calibration: pd.DataFrame
    operating_points: pd.DataFrame
    average_precision: pd.DataFrame
    subgroups: pd.DataFrame
    figures: list[str]
    positive: str
    selected: str
    leak_free: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  #: without test images duplicated in dev
    leaked: int = 0  #: test images with a duplicate in dev
    #: A multi-label task's per-label table (``test_per_label.csv``); empty for a single-label task.
    per_label: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    reference: str = ""  #: the configuration the others were compared with (multi-label; single-label: ``paper``)
    multilabel: bool = False


def _metrics(p: Predictions, design: Design, n_boot: int, seed: int) -> list[dict]:
    rows = []
    for name, metric in METRICS.items():
        try:
            ci = bootstrap_ci(p.scorer(metric), p.test_y, p.test_proba, design=design, n_boot=n_boot, seed=seed)
        except ValueError as error:  # e.g. AUC with a class absent from test
            rows.append({"config": p.config, "metric": name, "value": np.nan, "note": str(error)})
            continue
        rows.append({"config": p.config, "metric": name, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                     "unit": ci.unit, "resamples": ci.n_used, "note": ci.note})  # fmt: skip
    return rows


def _comparisons(p: Predictions, ref: Predictions, design: Design, n_boot: int, seed: int) -> list[dict]:
    rows = []
    for name, metric in METRICS.items():
        try:  # each model predicts by its own rule, both on the same resampled rows
            d = paired_bootstrap(
                p.scorer(metric), p.test_y, p.test_proba, ref.test_proba, design=design, n_boot=n_boot, seed=seed,
                metric_b=ref.scorer(metric),
            )  # fmt: skip
        except ValueError:
            continue
        rows.append({"config": p.config, "metric": name, "difference": d.diff, "ci_low": d.low, "ci_high": d.high,
                     "p": d.p_value, "test": f"paired bootstrap ({d.unit}, {d.n_used} resamples)",
                     "note": d.note})  # fmt: skip
    m = mcnemar(p.test_y, p.predicted(), ref.predicted())
    diff = accuracy(p.test_y, p.test_proba, p.rule) - accuracy(p.test_y, ref.test_proba, ref.rule)
    rows.append({"config": p.config, "metric": "accuracy", "difference": diff, "ci_low": np.nan, "ci_high": np.nan,
                 "p": m.p_value, "test": f"McNemar (b={m.b}, c={m.c}{', exact' if m.exact else ''})"})  # fmt: skip
    return rows


def _calibration(p: Predictions) -> dict:
    """ECE and Brier on test, before and after the rule's temperature (fitted on validation by the run), and the
    test images flagged out of distribution at the default strictness (about 5 % when test is like validation)."""
    calibrated = p.rule.calibrate(p.test_proba)
    flagged = None if p.test_ood_flagged is None else int(np.sum(p.test_ood_flagged))
    return {
        "config": p.config,
        "temperature": p.rule.temperature,
        "ece": expected_calibration_error(p.test_y, p.test_proba),
        "ece_calibrated": expected_calibration_error(p.test_y, calibrated),
        "brier": brier_score(p.test_y, p.test_proba),
        "brier_calibrated": brier_score(p.test_y, calibrated),
        "ood_flagged": flagged,
    }


def _operating_points(p: Predictions, positive: int) -> list[dict]:
    val_y, val_score = (p.val_y == positive).astype(int), p.val_proba[:, positive]
    test_y, test_score = (p.test_y == positive).astype(int), p.test_proba[:, positive]
    rows = []
    for kind, choose in (("specificity", threshold_at_specificity), ("sensitivity", threshold_at_sensitivity)):
        for target in TARGETS:
            try:
                threshold = choose(val_y, val_score, target)
            except ValueError as error:  # a class missing from the validation slice
                rows.append({"config": p.config, "fixed": kind, "target": target, "note": str(error)})
                continue
            point = operating_point(test_y, test_score, threshold)
            rows.append({"config": p.config, "fixed": kind, "target": target, **dataclasses.asdict(point)})
    return rows


def final_test(
    predictions: list[Predictions],
    classes: tuple[str, ...],
    groups: np.ndarray | None,
    reference: str,
    selected: str,
    out: Path,
    n_boot: int = 1000,
    seed: int = 0,
    drawn_by: Literal["images", "groups"] = "images",
    leaked: np.ndarray | None = None,
) -> FinalTest:
    """Score every refit configuration on test; write the CSV tables and figures into ``out``.

    Args:
        predictions: One per refit configuration.
        classes: Class names in label order.
        groups: Group (source) of every row of the dataset, or ``None``: the subgroup table is
            by group, and a test set drawn by group is resampled by group.
        reference: The configuration the others are compared with.
        selected: The configuration chosen on dev (by cross-validation): its calibration,
            precision-recall and subgroup figures are drawn.
        out: Folder for ``test_*.csv`` and figures.
        n_boot: Bootstrap resamples.
        seed: Bootstrap seed.
        drawn_by: How the test set was drawn: ``images`` (``--test-fraction``, ``--test-files``)
            or ``groups`` (``--test-source``, a group split); the bootstrap resamples that unit
            (:func:`raycxr.evaluation.resampling_design`: groups only when there are at least 20).
        leaked: Test rows with a duplicate in dev (the leakage audit): the metrics are also given
            without them (``test_leak_free.csv``).
    """
    positive = positive_class(classes)
    by_name = {p.config: p for p in predictions}
    ref = by_name.get(reference)
    metrics, comparisons, calibration, points, leak_free = [], [], [], [], []
    for p in predictions:
        test_groups = groups[p.test_rows] if groups is not None and drawn_by == "groups" else None
        design = resampling_design(drawn_by, test_groups)
        metrics += _metrics(p, design, n_boot, seed)
        if leaked is not None and len(leaked):
            keep = ~np.isin(p.test_rows, leaked)
            clean = dataclasses.replace(p, test_rows=p.test_rows[keep], test_y=p.test_y[keep],
                                        test_proba=p.test_proba[keep])  # fmt: skip
            clean_groups = test_groups[keep] if test_groups is not None else None
            leak_free += _metrics(clean, resampling_design(drawn_by, clean_groups), n_boot, seed)
        if ref is not None and p.config != reference:
            comparisons += _comparisons(p, ref, design, n_boot, seed)
        calibration.append(_calibration(p))
        points += _operating_points(p, positive)
    chosen = by_name[selected]
    figures = [
        plot_reliability(chosen.test_y, chosen.test_proba, out / "test_reliability.png",
                         proba_calibrated=chosen.rule.calibrate(chosen.test_proba),
                         class_names=list(classes)).name,
        plot_precision_recall(chosen.test_y, chosen.test_proba, out / "test_precision_recall.png",
                              class_names=list(classes)).name,
    ]  # fmt: skip
    ap = pd.concat(
        [average_precision_table(p.test_y, p.test_proba, list(classes)).assign(config=p.config) for p in predictions]
    )
    subgroups = pd.DataFrame()
    if groups is not None:  # at the threshold of 90 % specificity on validation, as in the operating points
        try:
            threshold = threshold_at_specificity(
                (chosen.val_y == positive).astype(int), chosen.val_proba[:, positive], TARGETS[0]
            )
        except ValueError:
            threshold = 0.5
        subgroups = subgroup_table(
            chosen.test_y, chosen.test_proba, groups[chosen.test_rows], positive, threshold
        ).assign(config=selected, threshold=threshold)
    result = FinalTest(
        metrics=pd.DataFrame(metrics),
        comparisons=pd.DataFrame(comparisons),
        calibration=pd.DataFrame(calibration),
        operating_points=pd.DataFrame(points),
        average_precision=ap,
        subgroups=subgroups,
        figures=figures,
        positive=classes[positive],
        selected=selected,
        leak_free=pd.DataFrame(leak_free),
        leaked=0 if leaked is None else len(leaked),
    )
    names = ["metrics", "comparisons", "calibration", "operating_points", "average_precision", "subgroups"]
    for name in names + (["leak_free"] if leak_free else []):
        getattr(result, name).to_csv(out / test_file(name), index=False)
    return result
