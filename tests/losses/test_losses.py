from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raycxr.losses import (
    ClassStats,
    FocalLoss,
    WeightedCrossEntropy,
    attention_alpha,
    build_loss,
    class_balanced_weights,
    class_statistics,
    inverse_frequency_weights,
    paper_alpha,
)

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0], [1.0, 1.0, 1.0]])
TARGET = torch.tensor([0, 2, 1, 2])
CLASSES = ("a", "b", "c")


def _stats(r_inter, sigma, im) -> ClassStats:
    return ClassStats(list(r_inter), list(sigma), list(im), [1, 0, 0], samples=10, size=8, seed=0)


def test_attention_loss_equals_a_hand_computation() -> None:
    stats = _stats([0.6, 0.5, 0.55], [0.2, 0.3, 0.1], [1.0, 0.5, 0.25])
    beta, gamma, q, n = 0.05, 0.1, 0.25, 0.001
    loss, info = build_loss("attention", [40, 20, 10], CLASSES, stats, {"beta": beta, "gamma": gamma, "q": q, "n": n})
    alpha = []
    for r, s, im in zip(stats.r_inter, stats.sigma_intra, stats.class_im):
        a1 = r - beta * im - gamma * s
        alpha.append(n / (1 - a1**q))
    assert info["class_weights"] == pytest.approx(alpha)
    by_hand = 0.0
    for logits, y in zip(LOGITS.tolist(), TARGET.tolist()):
        p = math.exp(logits[y]) / sum(math.exp(v) for v in logits)
        by_hand += -alpha[y] * math.log(p)
    by_hand /= len(TARGET)  # batch mean, as the paper's Keras code (not / sum of alpha)
    assert loss(LOGITS, TARGET).item() == pytest.approx(by_hand, rel=1e-6)
    weighted_mean = torch.nn.functional.cross_entropy(LOGITS, TARGET, weight=torch.tensor(alpha))
    assert weighted_mean.item() != pytest.approx(by_hand, rel=1e-3)


def test_alpha1_outside_range_names_class_and_values() -> None:
    stats = _stats([1.2, 0.5, 0.5], [0.1, 0.1, 0.1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"alpha1 of class 'a' is 1.1400, outside \[0, 1\) \(r_inter=1.2000"):
        attention_alpha(stats, classes=CLASSES)
    with pytest.raises(ValueError, match="alpha1 of class 'b'"):
        attention_alpha(_stats([0.5, 0.01, 0.5], [0.1, 0.5, 0.1], [1.0, 1.0, 1.0]), classes=CLASSES)


def test_paper_alpha_preset_and_inversion() -> None:
    classes = ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
    alpha = paper_alpha(classes)
    assert alpha == [0.00525, 0.00579, 0.00566, 0.00513]
    alpha1 = [(1 - 0.001 / a) ** 4 for a in alpha]  # invert alpha = n / (1 - alpha1^q)
    assert alpha1 == pytest.approx([0.43, 0.47, 0.46, 0.42], abs=0.01)
    with pytest.raises(ValueError, match="alpha preset 'paper' needs the classes"):
        paper_alpha(("x", "y"))
    _, info = build_loss("alpha", [1, 1, 1, 1], classes, alpha="paper")
    assert info["class_weights"] == alpha


def test_baseline_weights() -> None:
    assert inverse_frequency_weights([10, 30]) == pytest.approx([2.0, 2 / 3])
    cb = class_balanced_weights([10, 1000], beta=0.99)
    assert sum(cb) == pytest.approx(2.0) and cb[0] > cb[1]
    ce, _ = build_loss("ce", [1, 1, 1], CLASSES)
    assert ce(LOGITS, TARGET).item() == pytest.approx(torch.nn.functional.cross_entropy(LOGITS, TARGET).item())
    wcce, info = build_loss("wcce", [40, 20, 10], CLASSES)
    w = torch.tensor(info["class_weights"])
    per_item = torch.nn.functional.cross_entropy(LOGITS, TARGET, reduction="none") * w[TARGET]
    assert wcce(LOGITS, TARGET).item() == pytest.approx(per_item.mean().item())


def test_focal_loss_hand_computation_and_gamma_zero() -> None:
    p = torch.softmax(LOGITS, 1)[torch.arange(4), TARGET]
    expected = (-0.25 * (1 - p) ** 2 * torch.log(p)).mean()
    assert FocalLoss(0.25, 2.0)(LOGITS, TARGET).item() == pytest.approx(expected.item())
    ce = torch.nn.functional.cross_entropy(LOGITS, TARGET)
    assert FocalLoss(1.0, 0.0)(LOGITS, TARGET).item() == pytest.approx(ce.item())


def test_unknown_or_incomplete_losses() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        build_loss("hinge", [1, 1, 1], CLASSES)
    with pytest.raises(ValueError, match="needs class statistics"):
        build_loss("attention", [1, 1, 1], CLASSES)
    with pytest.raises(ValueError, match="alpha has 2 values but there are 3 classes"):
        build_loss("alpha", [1, 1, 1], CLASSES, alpha=[1.0, 2.0])
    assert isinstance(build_loss("ce", [1, 1, 1], CLASSES)[0], WeightedCrossEntropy)


def test_class_statistics_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (16, 16)).astype(float)
    near = np.clip(base + rng.normal(0, 20, (30, 16, 16)), 0, 255)  # class 0: small variations of base
    also_near = np.clip(base + rng.normal(0, 60, (20, 16, 16)), 0, 255)  # class 1: noisier copies
    far = rng.integers(0, 255, (10, 16, 16)).astype(float)  # class 2: unrelated
    images = np.concatenate([near, also_near, far]).astype(np.uint8)
    labels = np.repeat([0, 1, 2], [30, 20, 10])
    stats = class_statistics(images, labels, 3, samples=400, size=16, seed=0)
    assert stats.class_im == pytest.approx([1.0, 20 / 30, 10 / 30])
    assert stats.sigma_intra[0] < stats.sigma_intra[1] < stats.sigma_intra[2]
    assert stats.nearest_class[0] == 1 and stats.nearest_class[1] == 0
    assert stats.r_inter[0] > 0.5 and abs(stats.r_inter[2]) < 0.2
    assert stats == class_statistics(images, labels, 3, samples=400, size=16, seed=0)
    assert stats != class_statistics(images, labels, 3, samples=400, size=16, seed=1)
    # Only the given (training) rows count.
    subset = class_statistics(images, labels, 3, rows=np.r_[0:10, 30:40, 50:60], samples=50, size=16)
    assert subset.class_im == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have no training images"):
        class_statistics(images, labels, 3, rows=np.arange(50))


def test_class_statistics_do_not_depend_on_the_chunk_size() -> None:
    """Streaming the uint8 images through in chunks gives the statistics of one big float copy."""
    from raycxr.losses._stats import _standardized

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(37, 48, 48), dtype=np.uint8)
    rows = np.arange(3, 37)
    whole = _standardized(images, rows, 16, chunk=1000)
    for chunk in (1, 5, 16):
        torch.testing.assert_close(_standardized(images, rows, 16, chunk=chunk), whole)
