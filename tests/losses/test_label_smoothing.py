"""Label smoothing: declared by the cross-entropy losses, computed as torch's ``cross_entropy`` computes it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raycxr.losses import LOSSES, WeightedCrossEntropy, build_loss, check_label_smoothing, smoothing_losses

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0], [1.0, 1.0, 1.0]])
TARGET = torch.tensor([0, 2, 1, 2])


def test_the_registry_declares_which_losses_take_label_smoothing() -> None:
    assert smoothing_losses() == ("attention", "ce", "wcce", "cb", "alpha", "cwbcce")
    assert not {"focal", "binary_focal"} & set(smoothing_losses())
    assert all(LOSSES[name].smoothing for name in smoothing_losses())


def test_unweighted_smoothing_is_torchs() -> None:
    for eps in (0.0, 0.1, 0.3):
        loss = WeightedCrossEntropy(label_smoothing=eps)(LOGITS, TARGET)
        assert loss.item() == pytest.approx(F.cross_entropy(LOGITS, TARGET, label_smoothing=eps).item(), rel=1e-6)
    assert WeightedCrossEntropy(label_smoothing=0.3)(LOGITS, TARGET) > WeightedCrossEntropy()(LOGITS, TARGET)


def test_a_class_weight_weighs_the_images_smoothed_term() -> None:
    weight = torch.tensor([0.5, 2.0, 1.0])
    smoothed = F.cross_entropy(LOGITS, TARGET, reduction="none", label_smoothing=0.2)
    expected = (weight[TARGET] * smoothed).mean()
    assert WeightedCrossEntropy(weight, 0.2)(LOGITS, TARGET).item() == pytest.approx(expected.item(), rel=1e-6)


def test_one_logit_smoothing_is_bce_on_smoothed_targets() -> None:
    z, y, eps = torch.tensor([[1.5], [-0.3], [0.2]]), torch.tensor([1, 0, 1]), 0.2
    bce = F.binary_cross_entropy_with_logits(z.squeeze(1), y.float() * (1 - eps) + eps / 2)
    assert WeightedCrossEntropy(label_smoothing=eps)(z, y).item() == pytest.approx(bce.item(), rel=1e-6)


def test_build_loss_passes_it_on_and_refuses_it_for_a_loss_without_it() -> None:
    module, info = build_loss("wcce", [3, 2, 1], ("a", "b", "c"), params={"label_smoothing": 0.1})
    assert module.label_smoothing == 0.1 and info["label_smoothing"] == 0.1
    message = "loss 'focal' does not support label smoothing (label_smoothing=0.1); the losses that do: attention"
    with pytest.raises(ValueError, match=r"^loss 'focal' does not support label smoothing") as error:
        build_loss("focal", [3, 2, 1], ("a", "b", "c"), params={"label_smoothing": 0.1})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    build_loss("focal", [3, 2, 1], ("a", "b", "c"), params={"label_smoothing": 0.0})  # zero: nothing asked
    check_label_smoothing("binary_focal", 0.0)
    with pytest.raises(ValueError, match=r"^label_smoothing must be a number in \[0, 1\), got 1.0.$"):
        build_loss("ce", [3, 2, 1], ("a", "b", "c"), params={"label_smoothing": 1.0})
    assert "label_smoothing" not in build_loss("ce", [3, 2, 1], ("a", "b", "c"))[1]  # not asked: not recorded
