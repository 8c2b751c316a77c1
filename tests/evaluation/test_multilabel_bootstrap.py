"""Multi-label bootstrap intervals, paired differences on shared resamples, per-label calibration."""

from __future__ import annotations

import numpy as np
import pytest

from raycxr.evaluation import (
    DecisionRule,
    label_calibration,
    multilabel_bootstrap,
    multilabel_metrics,
    resampling_design,
)

CLASSES = ("A", "B", "C")


def _data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < 0.4).astype(float)
    y[rng.random((n, 3)) < 0.1] = np.nan
    p = np.clip(np.nan_to_num(y, nan=0.5) * 0.5 + rng.random((n, 3)) * 0.5, 0, 1)
    return y, p


RULE = DecisionRule(CLASSES, "thresholds", thresholds=(0.5, 0.5, 0.5))


def test_intervals_cover_the_estimates_and_name_the_unit() -> None:
    y, p = _data()
    groups = np.repeat(np.arange(40), 3).astype(str)
    boot = multilabel_bootstrap(y, p, CLASSES, RULE, design=resampling_design("groups", groups),
                                group_name="patient", n_boot=200)  # fmt: skip
    assert boot.unit == "patient (40 patients)"
    full = multilabel_metrics(y, p, CLASSES, RULE)
    for key in ("auc_ovr_macro", "ap_macro", "f1_macro", "auc/A", "ap/B", "f1/C"):
        ci = boot.interval(key)
        assert ci.estimate == full[key] and ci.low <= ci.estimate <= ci.high and ci.n_used == 200
        assert ci.unit == "patient (40 patients)"
    assert "support/A" not in boot.keys  # counts are not bootstrapped
    images = multilabel_bootstrap(y, p, CLASSES, RULE, n_boot=50)
    assert images.unit == "image" and images.note == ""
    eight = resampling_design("groups", np.repeat(np.arange(8), 15))
    few = multilabel_bootstrap(y, p, CLASSES, RULE, design=eight, n_boot=10)
    assert few.unit == "image" and few.note == "8 groups < 20: resampled images"


def test_groups_are_drawn_whole() -> None:
    y, p = _data(60)
    groups = np.repeat(np.arange(20), 3).astype(str)
    twice = np.concatenate([y, y]), np.concatenate([p, p]), np.concatenate([groups, groups])
    a = multilabel_bootstrap(y, p, CLASSES, RULE, design=resampling_design("groups", groups), n_boot=100, seed=3)
    b = multilabel_bootstrap(*twice[:2], CLASSES, RULE, design=resampling_design("groups", twice[2]), n_boot=100,
                             seed=3)  # fmt: skip
    np.testing.assert_allclose(a.values[:, a.keys.index("auc_ovr_macro")], b.values[:, b.keys.index("auc_ovr_macro")])


def test_paired_difference_uses_the_same_resamples() -> None:
    y, p = _data()
    a = multilabel_bootstrap(y, p, CLASSES, RULE, n_boot=200, seed=1)
    same = a.paired(multilabel_bootstrap(y, p.copy(), CLASSES, RULE, n_boot=200, seed=1), "auc_ovr_macro")
    assert same.diff == 0 and same.low == same.high == 0 and same.p_value == 1.0
    noise = np.random.default_rng(9).random(p.shape)
    d = multilabel_bootstrap(y, noise, CLASSES, RULE, n_boot=200, seed=1).paired(a, "auc_ovr_macro")
    assert d.diff < 0 and d.high < 0 and d.p_value < 0.05 and d.n_used == 200
    with pytest.raises(ValueError, match="same test set, design and seed"):
        a.paired(multilabel_bootstrap(y, p, CLASSES, RULE, n_boot=100, seed=1), "auc_ovr_macro")
    with pytest.raises(ValueError, match="no bootstrapped metric 'accuracy'"):
        a.interval("accuracy")


def test_undefined_label_is_named_and_resamples_counted() -> None:
    y, p = _data(30)
    y[:, 2] = 0.0
    y[0, 2] = 1.0  # one positive: most resamples lose it
    boot = multilabel_bootstrap(y, p, CLASSES, RULE, n_boot=100)
    ci = boot.interval("auc/C")
    assert ci.n_skipped > 0 and ci.n_used + ci.n_skipped == 100 and "undefined on" in ci.note
    y[:, 2] = 0.0
    with pytest.raises(ValueError, match="auc/C is undefined on the test set"):
        multilabel_bootstrap(y, p, CLASSES, RULE, n_boot=10).interval("auc/C")


def test_label_calibration() -> None:
    y = np.array([[1, 0], [0, np.nan], [1, 1], [0, 0]], dtype=float)
    p = np.array([[1.0, 0.0], [0.0, 0.3], [1.0, 1.0], [0.0, 0.0]])
    rows = label_calibration(y, p, ("A", "B"))
    assert rows[0] == {"label": "A", "ece": 0.0, "brier": 0.0, "known": 4}
    assert rows[1]["known"] == 3 and rows[1]["ece"] == 0.0
    q = np.full((4, 2), 0.5)
    half = label_calibration(np.array([[1, 1], [1, 1], [0, 1], [0, 1]], dtype=float), q, ("A", "B"))
    assert half[0]["ece"] == 0.0 and half[0]["brier"] == 0.25  # half positive at 0.5: calibrated
    assert half[1]["ece"] == pytest.approx(0.5) and half[1]["brier"] == 0.25
