"""Bootstrap intervals of the multi-label metrics, resampling images or whole patients."""

from __future__ import annotations

import numpy as np
import pytest

from raycxr.evaluation import multilabel_bootstrap, multilabel_metrics, resampling_design

CLASSES = ("Edema", "Mass", "Nodule")
KEYS = ["auc_ovr_macro", "f1_macro", "auc/Edema", "ap/Mass", "f1/Nodule"]


def _data(n: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = (rng.random((n, 3)) < 0.4).astype(float)
    labels[::5, 1] = np.nan  # unknown entries are masked
    proba = np.clip(0.3 * labels + 0.7 * rng.random((n, 3)), 0, 1)
    proba[np.isnan(proba)] = 0.5
    return labels, proba, np.repeat(np.arange(n // 3), 3)


def test_patients_resampled_around_the_full_data_metrics() -> None:
    labels, proba, patients = _data()
    design = resampling_design("groups", patients)
    thresholds = [0.4, 0.5, 0.6]
    intervals = multilabel_bootstrap(labels, proba, CLASSES, thresholds, KEYS, design=design, n_boot=100, seed=1)
    full = multilabel_metrics(labels, proba, CLASSES, thresholds)
    assert list(intervals) == KEYS
    for key, interval in intervals.items():
        assert interval.estimate == pytest.approx(full[key]) and interval.low <= interval.estimate <= interval.high
        assert interval.unit == "group (30 groups)" and interval.n_used + interval.n_skipped == 100
    again = multilabel_bootstrap(labels, proba, CLASSES, thresholds, KEYS, design=design, n_boot=100, seed=1)
    assert again == intervals  # the same seed, the same resamples
    images = multilabel_bootstrap(labels, proba, CLASSES, thresholds, KEYS[:1], n_boot=50)
    assert images["auc_ovr_macro"].unit == "image" and images["auc_ovr_macro"].note == ""
    few = multilabel_bootstrap(labels, proba, CLASSES, thresholds, KEYS[:1], n_boot=50,
                               design=resampling_design("groups", patients % 4))  # fmt: skip
    assert few["auc_ovr_macro"].unit == "image" and few["auc_ovr_macro"].note == "4 groups < 20: resampled images"


def test_an_undefined_label_and_bad_keys() -> None:
    labels, proba, _ = _data()
    labels[:, 2] = 0.0  # no positive Nodule: its AUC is undefined on the full data
    interval = multilabel_bootstrap(labels, proba, CLASSES, None, ["auc/Nodule"], n_boot=20)["auc/Nodule"]
    assert np.isnan(interval.estimate) and np.isnan(interval.low) and interval.n_used == 0
    assert interval.note == "undefined on the full data"
    with pytest.raises(ValueError, match=r"unknown multi-label metric\(s\) \['auc/Fibrosis'\]"):
        multilabel_bootstrap(labels, proba, CLASSES, None, ["auc/Fibrosis"], n_boot=20)
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        multilabel_bootstrap(labels, proba, CLASSES, None, KEYS, n_boot=0)
