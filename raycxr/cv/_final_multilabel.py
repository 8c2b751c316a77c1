"""The final test of a multi-label experiment: every refit scored once on the untouched test set.

The multi-label counterpart of :func:`raycxr.cv._final.final_test`. Each refit's test
predictions are bootstrapped once by the unit the test set was drawn by (whole patients for an
official split or a group split of a dataset with patients;
:func:`raycxr.evaluation.multilabel_bootstrap`): the macro scalars and every label's AUC, AP and F1
(at the threshold its rule chose on validation) get a 95 % interval from the same resamples, and
the paired differences of macro AUC with the reference are read off those resamples. Each label's
sigmoid calibration (ECE, Brier) is given too. The single-label tables that assume one class per
image (operating points of a positive class, McNemar, subgroups by class) have no counterpart here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from raycxr.cv._final import FinalTest, Predictions
from raycxr.evaluation import (
    MULTILABEL_METRICS,
    MultilabelBootstrap,
    label_calibration,
    multilabel_bootstrap,
    resampling_design,
)
from raycxr.experiment import PER_LABEL_TABLE, test_file

#: The per-label metrics given with an interval (their keys are ``<metric>/<label>``).
LABEL_METRICS = ("auc", "ap", "f1")
#: The metric the configurations are compared on (paired bootstrap): threshold-free, as the selection.
COMPARED = "auc_ovr_macro"


def _interval_row(boot: MultilabelBootstrap, key: str) -> dict:
    try:
        ci = boot.interval(key)
    except ValueError as error:  # e.g. a label without a positive on test
        return {"value": np.nan, "note": str(error)}
    return {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "unit": ci.unit, "resamples": ci.n_used,
            "note": ci.note}  # fmt: skip


def _metrics(config: str, boot: MultilabelBootstrap, classes: Sequence[str]) -> list[dict]:
    """``test_metrics.csv`` rows: the macro scalars, then every label's AUC, AP, F1 (``auc/<label>``…)."""
    keys = [*MULTILABEL_METRICS, *(f"{m}/{c}" for c in classes for m in LABEL_METRICS)]
    return [{"config": config, "metric": key, **_interval_row(boot, key)} for key in keys]


def _per_label(p: Predictions, boot: MultilabelBootstrap, classes: Sequence[str]) -> list[dict]:
    """``test_per_label.csv`` rows: per label, support, threshold, AUC / AP / F1 with intervals, ECE, Brier."""
    calibration = {row["label"]: row for row in label_calibration(p.test_y, p.test_proba, classes)}
    rows = []
    for label in classes:
        row: dict = {"config": p.config, "label": label, "support": boot.estimates[f"support/{label}"],
                     "known": calibration[label]["known"],
                     "threshold": boot.estimates[f"threshold/{label}"]}  # fmt: skip
        for metric in LABEL_METRICS:
            values = _interval_row(boot, f"{metric}/{label}")
            row |= {metric: values["value"], f"{metric}_low": values.get("ci_low", np.nan),
                    f"{metric}_high": values.get("ci_high", np.nan)}  # fmt: skip
        rows.append(row | {"ece": calibration[label]["ece"], "brier": calibration[label]["brier"]})
    return rows


def _calibration(p: Predictions, per_label: list[dict]) -> dict:
    """Mean over labels of each label's ECE and Brier; the test images flagged out of distribution."""
    flagged = None if p.test_ood_flagged is None else int(np.sum(p.test_ood_flagged))
    return {"config": p.config, "ece_label_mean": float(np.nanmean([r["ece"] for r in per_label])),
            "brier_label_mean": float(np.nanmean([r["brier"] for r in per_label])),
            "ood_flagged": flagged}  # fmt: skip


def _comparison(config: str, boot: MultilabelBootstrap, ref: MultilabelBootstrap) -> list[dict]:
    try:
        d = boot.paired(ref, COMPARED)
    except ValueError:
        return []
    return [{"config": config, "metric": COMPARED, "difference": d.diff, "ci_low": d.low, "ci_high": d.high,
             "p": d.p_value, "test": f"paired bootstrap ({d.unit}, {d.n_used} resamples)", "note": d.note}]  # fmt: skip


def _bootstraps(
    predictions: list[Predictions], classes: Sequence[str], design_of: dict, n_boot: int, seed: int
) -> dict[str, MultilabelBootstrap]:
    rows = predictions[0].test_rows
    if any(not np.array_equal(p.test_rows, rows) for p in predictions):
        raise RuntimeError("the refits were scored on different test rows; their comparison would not be paired.")
    return {
        p.config: multilabel_bootstrap(p.test_y, p.test_proba, classes, p.rule, n_boot=n_boot, seed=seed, **design_of)
        for p in predictions
    }


def final_test_multilabel(
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
    group_name: str = "group",
) -> FinalTest:
    """Score every multi-label refit on test; write ``test_metrics.csv``, ``test_per_label.csv``,
    ``test_calibration.csv``, ``test_comparisons.csv`` (and ``test_leak_free.csv``) into ``out``.

    Args: as :func:`raycxr.cv._final.final_test`; ``group_name`` names the group unit (``patient``).
    ``reference`` is compared with every other configuration on the macro AUC (paired bootstrap).
    """

    def design(rows: np.ndarray) -> dict:
        test_groups = groups[rows] if groups is not None and drawn_by == "groups" else None
        return {"design": resampling_design(drawn_by, test_groups), "group_name": group_name}

    boots = _bootstraps(predictions, classes, design(predictions[0].test_rows), n_boot, seed)
    metrics, per_label, calibration, comparisons, leak_free = [], [], [], [], []
    for p in predictions:
        metrics += _metrics(p.config, boots[p.config], classes)
        labels = _per_label(p, boots[p.config], classes)
        per_label += labels
        calibration.append(_calibration(p, labels))
        if reference in boots and p.config != reference:
            comparisons += _comparison(p.config, boots[p.config], boots[reference])
    if leaked is not None and len(leaked):
        keep = ~np.isin(predictions[0].test_rows, leaked)
        clean = [dataclasses.replace(p, test_rows=p.test_rows[keep], test_y=p.test_y[keep],
                                     test_proba=p.test_proba[keep]) for p in predictions]  # fmt: skip
        for p, boot in _bootstraps(clean, classes, design(clean[0].test_rows), n_boot, seed).items():
            leak_free += [row for row in _metrics(p, boot, classes) if row["metric"] in MULTILABEL_METRICS]
    result = FinalTest(
        metrics=pd.DataFrame(metrics),
        comparisons=pd.DataFrame(comparisons),
        calibration=pd.DataFrame(calibration),
        operating_points=pd.DataFrame(),
        average_precision=pd.DataFrame(),
        subgroups=pd.DataFrame(),
        figures=[],
        positive="",
        selected=selected,
        leak_free=pd.DataFrame(leak_free),
        leaked=0 if leaked is None else len(leaked),
        per_label=pd.DataFrame(per_label),
        reference=reference,
        multilabel=True,
    )
    result.per_label.to_csv(out / test_file(PER_LABEL_TABLE), index=False)
    for name in ["metrics", "calibration", "comparisons"] + (["leak_free"] if leak_free else []):
        getattr(result, name).to_csv(out / test_file(name), index=False)
    return result
