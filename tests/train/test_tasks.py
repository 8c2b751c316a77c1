"""Binary and merged-class tasks train end to end; every backbone learns the synthetic task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raycxr.models import backbone_names, get_backbone
from raycxr.train import TrainConfig, fit, prepare_data, youden_threshold


def _cfg(data: Path, **overrides) -> TrainConfig:
    base = dict(data=data, image_size=64, folds=4, weights="none", head="gap", lr=1e-3, batch_size=16, epochs=2,
                patience=2, stats_samples=200)  # fmt: skip
    return TrainConfig(**(base | overrides)).check()


def test_binary_task_with_one_sigmoid_output(tiny_dataset: Path) -> None:
    cfg = _cfg(
        tiny_dataset, classes=["Normal", "COVID"], binary=True, loss="binary_focal", head="dense",
        head_widths=[32], head_dropout=0.2, backbone="mobilenet_v2",
    )  # fmt: skip
    data = prepare_data(cfg)
    assert data.classes == ("Normal", "COVID")
    assert set(np.unique(data.labels)) == {0, 1}
    split = data.splits[0]
    result = fit(cfg, data.images, data.labels, data.classes, split)
    assert result.model.classifier.out_features == 1  # one logit: P(COVID) = σ(z)
    proba = result.probabilities["test"]
    assert proba.shape == (len(split.test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    threshold = youden_threshold(data.labels[split.val], result.probabilities["val"][:, 1])
    assert result.test["threshold"] == pytest.approx(threshold)
    predicted = (proba[:, 1] >= threshold).astype(int)
    truth = data.labels[split.test]
    tp, fn = int(((predicted == 1) & (truth == 1)).sum()), int(((predicted == 0) & (truth == 1)).sum())
    assert result.test["sensitivity_pos"] == pytest.approx(tp / (tp + fn))
    for key in ("specificity_pos", "ppv", "npv", "auc_ovr_macro"):
        assert key in result.test
    assert {"val_ppv", "val_npv"} <= set(result.history[-1])


def test_binary_needs_two_classes_before_any_training(tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="binary needs exactly two classes; the task has 4"):
        prepare_data(_cfg(tiny_dataset, binary=True))
    with pytest.raises(ValueError, match="loss 'binary_focal' needs two classes; the task has 4"):
        prepare_data(_cfg(tiny_dataset, loss="binary_focal"))
    with pytest.raises(ValueError, match="binary needs exactly two classes, got classes"):
        _cfg(tiny_dataset, binary=True, classes=["COVID", "Normal", "Lung_Opacity"])


def test_merged_classes_train(tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, class_map={"Lung_Opacity": "Other", "Viral Pneumonia": "Other"}, loss="cwbcce", epochs=1)
    data = prepare_data(cfg)
    assert data.classes == ("COVID", "Other", "Normal")
    result = fit(cfg, data.images, data.labels, data.classes, data.splits[0])
    assert result.probabilities["test"].shape[1] == 3


@pytest.mark.slow
@pytest.mark.parametrize("backbone", [b for b in backbone_names()])
def test_every_backbone_learns_the_synthetic_task(small_dataset: Path, backbone: str) -> None:
    """A short training from random weights beats chance (macro-F1 of always guessing one class) on validation."""
    size = max(64, get_backbone(backbone).min_size)
    cfg = _cfg(
        small_dataset, backbone=backbone, image_size=size, freeze_ratio=0.0, loss="ce", epochs=6, patience=6,
        lr=1e-3, batch_size=32, classes=["COVID", "Normal"], frozen_cache_gb=0,
    )  # fmt: skip
    data = prepare_data(cfg)
    result = fit(cfg, data.images, data.labels, data.classes, data.splits[0])
    majority = np.bincount(data.labels[data.splits[0].val]).max() / len(data.splits[0].val)
    assert result.val["accuracy"] > majority, f"{backbone}: {result.val['accuracy']:.3f} vs majority {majority:.3f}"
    assert result.val["auc_ovr_macro"] > 0.6, backbone
