"""Binary and merged-class tasks train end to end; every backbone learns the synthetic task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raycxr.data import Split
from raycxr.evaluation import youden_threshold
from raycxr.models import backbone_names, get_backbone
from raycxr.train import TrainConfig, evaluate_state, fit, prepare_data


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
    # The rule was decided on the restored epoch's validation scores (Youden's J), and decides the test metrics.
    threshold = youden_threshold(data.labels[split.val], result.probabilities["val"][:, 1])
    assert result.rule is not None and result.rule.rule == "youden"
    assert result.test["threshold"] == result.rule.threshold == pytest.approx(threshold)
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


def test_the_log_says_when_the_frozen_prefix_cannot_be_cached(tiny_dataset: Path, caplog) -> None:
    cfg = _cfg(tiny_dataset, freeze_mode="stochastic", freeze_ratio=0.5, loss="ce", epochs=1, seed=2)
    data = prepare_data(cfg)  # seed 2 leaves part of the first block trainable (seeds 0 and 1 freeze it whole)
    with caplog.at_level("WARNING", logger="raycxr.train._loop"):
        result = fit(cfg, data.images, data.labels, data.classes, data.splits[0])
    assert result.cached_blocks == 0
    assert "frozen-prefix cache not used: no whole leading block of mobilenet_v2 is frozen" in caplog.text


def _easy_task(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images; class 1 has a bright disk at a random place: learnable in a few epochs from scratch."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    yy, xx = np.mgrid[:size, :size]
    images = rng.normal(90, 25, (n, size, size))
    for i in np.flatnonzero(labels):
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        images[i][(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 6) ** 2] += 120
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.mark.slow
@pytest.mark.parametrize("backbone", backbone_names())
def test_every_backbone_learns_a_short_task(backbone: str) -> None:
    """A short training from random weights beats chance: its training loss falls well below ln 2, the
    cross-entropy of guessing the (balanced) class frequencies.

    Validation metrics are not asserted: after a few dozen steps from scratch at lr 1e-3, eval-mode
    BatchNorm statistics still lag the weights (a known effect of short from-scratch runs).
    """
    size = max(64, get_backbone(backbone).min_size)
    images, labels = _easy_task(96, size)
    split = Split(train=np.arange(64), val=np.arange(64, 96), test=np.arange(0))
    cfg = TrainConfig(
        backbone=backbone, weights="none", image_size=size, freeze_ratio=0.0, loss="ce", head="gmp",
        normalize="imagenet", lr=1e-3, batch_size=16, epochs=4, patience=4, frozen_cache_gb=0, seed=0,
    ).check()  # fmt: skip
    result = fit(cfg, images, labels, ("blank", "disk"), split)
    losses = [row["train_loss"] for row in result.history]
    assert np.isfinite(losses).all()
    assert min(losses[1:]) < 0.5 * np.log(2), f"{backbone}: training losses {np.round(losses, 3).tolist()}"


def test_scoring_runs_in_float32_whatever_the_training_precision(tiny_dataset: Path) -> None:
    """bf16 autocast trains; the validation scores that decide the rule, the test scores and a later
    evaluation of the same weights (what predict and export run) are all float32 and agree."""
    cfg = _cfg(tiny_dataset, classes=["Normal", "COVID"], precision="bf16", loss="ce", epochs=1)
    data = prepare_data(cfg)
    split = data.splits[0]
    result = fit(cfg, data.images, data.labels, data.classes, split)
    for name, rows in (("val", split.val), ("test", split.test)):
        metrics, proba = evaluate_state(
            cfg, result.model.state_dict(), data.images, data.labels, data.classes, rows, result.rule
        )
        np.testing.assert_allclose(proba, result.probabilities[name], atol=1e-5)
        assert metrics["f1_macro"] == pytest.approx(getattr(result, name)["f1_macro"])
    assert result.rule.rule == "youden" and result.rule.temperature is not None


def test_a_two_class_decision_rule_needs_two_classes(tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="decision 'youden' needs two classes, got classes"):
        _cfg(tiny_dataset, decision="youden", classes=["COVID", "Normal", "Lung_Opacity"])
    cfg = _cfg(tiny_dataset, decision="specificity")
    data = prepare_data(cfg)
    with pytest.raises(ValueError, match="decision 'specificity' needs two classes, the task has 4"):
        fit(cfg, data.images, data.labels, data.classes, data.splits[0])
