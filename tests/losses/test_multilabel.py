"""The multi-label losses: hand computations, NaN masking of value and gradient, counts and task checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from raycxr.losses import (
    LOSSES,
    AsymmetricLoss,
    build_loss,
    check_loss_task,
    multilabel_losses,
    register_loss,
    single_label_losses,
)
from raycxr.multilabel import check_multilabel, label_counts

NAN = math.nan
CLASSES = ("Atelectasis", "Edema", "Effusion")
# 4 images × 3 labels; NaN: not labelled (or uncertain under "ignore").
TARGET = torch.tensor([[1.0, 0.0, NAN], [0.0, NAN, 1.0], [NAN, 1.0, 0.0], [1.0, 0.0, 0.0]])
KNOWN = ~torch.isnan(TARGET)
LOGITS = torch.tensor([[2.0, -1.0, 5.0], [-0.5, 3.0, 0.7], [1.5, 0.2, -2.0], [0.3, 1.1, -0.4]])
COUNTS = [[6, 3, 8], [2, 3, 4]]  # training negatives / positives of each label


def _hand_mean(terms: torch.Tensor) -> torch.Tensor:
    return terms[KNOWN].sum() / KNOWN.sum()


def test_registry_marks_the_multilabel_losses() -> None:
    assert multilabel_losses() == ("bce", "focal_ml", "asl")
    assert set(single_label_losses()) == set(LOSSES) - set(multilabel_losses())
    assert not LOSSES["attention"].multilabel and "single-label by construction" in LOSSES["attention"].builder.__doc__
    assert LOSSES["focal_ml"].param_names == ("focal_alpha", "focal_gamma")  # shared with binary_focal
    assert LOSSES["asl"].param_names == ("gamma_pos", "gamma_neg", "asl_clip")
    assert LOSSES["bce"].param("pos_weight").kind == "bool"
    for name in multilabel_losses():
        assert not (LOSSES[name].smoothing or LOSSES[name].needs_stats or LOSSES[name].binary_only)
    with pytest.raises(ValueError, match=r"^multi-label loss 'toy_ml' cannot be binary_only, needs_stats or smoothing"):
        register_loss("toy_ml", description="x", smoothing=True, multilabel=True)
    assert "toy_ml" not in LOSSES


def test_label_counts_leave_unknown_entries_out() -> None:
    counts = label_counts(TARGET.numpy())
    assert counts.tolist() == [[1, 2, 2], [2, 1, 1]] and counts.dtype == np.int64
    assert label_counts(TARGET.numpy(), rows=np.array([0, 3])).tolist() == [[0, 2, 1], [2, 0, 0]]
    with pytest.raises(ValueError) as error:
        check_multilabel([[1.0, -1.0]])
    assert str(error.value) == (
        "labels must hold 0 (negative), 1 (positive) or NaN (unknown); row 0, label 1 is -1.0 (1 such entries)."
    )
    with pytest.raises(ValueError, match=r"^labels must have shape \(N, L\) with N, L ≥ 1, got shape \(3,\)\.$"):
        check_multilabel([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"^labels has 2 labels but 1 names were given: \['a'\]\.$"):
        check_multilabel([[1.0, 0.0]], classes=("a",))


def test_bce_with_pos_weight_equals_a_hand_computation() -> None:
    loss, info = build_loss("bce", COUNTS, CLASSES, params={"pos_weight": True})
    weights = torch.tensor([6 / 2, 3 / 3, 8 / 4])
    assert info == {"loss": "bce", "pos_weight": True, "pos_weights": weights.tolist()}
    p = torch.sigmoid(LOGITS)
    t = torch.nan_to_num(TARGET)
    by_hand = -(weights * t * torch.log(p) + (1 - t) * torch.log(1 - p))
    torch.testing.assert_close(loss(LOGITS, TARGET), _hand_mean(by_hand))
    plain, info = build_loss("bce", COUNTS, CLASSES)
    assert info == {"loss": "bce", "pos_weight": False}
    by_hand = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    torch.testing.assert_close(plain(LOGITS, TARGET), _hand_mean(by_hand))


def test_focal_ml_is_torchvisions_sigmoid_focal_loss_over_the_known_entries() -> None:
    loss, info = build_loss("focal_ml", COUNTS, CLASSES, focal_alpha=0.3, focal_gamma=1.5)
    assert info == {"loss": "focal_ml", "focal_alpha": 0.3, "focal_gamma": 1.5}
    expected = sigmoid_focal_loss(LOGITS[KNOWN], TARGET[KNOWN], alpha=0.3, gamma=1.5, reduction="mean")
    torch.testing.assert_close(loss(LOGITS, TARGET), expected)


@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "clip"), [(0.0, 4.0, 0.05), (1.0, 2.0, 0.0), (0.5, 0.5, 0.2)])
def test_asl_equals_the_papers_formula(gamma_pos: float, gamma_neg: float, clip: float) -> None:
    loss, info = build_loss("asl", COUNTS, CLASSES, gamma_pos=gamma_pos, gamma_neg=gamma_neg, asl_clip=clip)
    assert info == {"loss": "asl", "gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "asl_clip": clip}
    p = torch.sigmoid(LOGITS.double())
    p_m = (p - clip).clamp(min=0)
    t = torch.nan_to_num(TARGET).double()
    by_hand = -(t * (1 - p) ** gamma_pos * torch.log(p) + (1 - t) * p_m**gamma_neg * torch.log(1 - p_m))
    torch.testing.assert_close(loss(LOGITS, TARGET), _hand_mean(by_hand).float())


@pytest.mark.parametrize("name", ["bce", "focal_ml", "asl"])
def test_unknown_entries_change_neither_the_loss_nor_get_a_gradient(name: str) -> None:
    loss, _ = build_loss(name, COUNTS, CLASSES, params={"pos_weight": True})
    logits = LOGITS.clone().requires_grad_()
    value = loss(logits, TARGET)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    assert (logits.grad[~KNOWN] == 0).all() and (logits.grad[KNOWN] != 0).all()
    moved = torch.where(KNOWN, LOGITS, torch.full_like(LOGITS, 40.0))  # wild logits where the label is unknown
    torch.testing.assert_close(loss(moved, TARGET), value.detach())
    # Only the known entries, as one flat "batch": the same mean.
    flat = loss(LOGITS[KNOWN][None], TARGET[KNOWN][None]) if name != "bce" else value.detach()
    torch.testing.assert_close(flat, value.detach())


@pytest.mark.parametrize("name", ["bce", "focal_ml", "asl"])
def test_a_batch_without_a_known_entry_gives_zero_and_a_zero_gradient(name: str) -> None:
    loss, _ = build_loss(name, COUNTS, CLASSES)
    logits = LOGITS.clone().requires_grad_()
    value = loss(logits, torch.full_like(TARGET, NAN))
    assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert (logits.grad == 0).all()


def test_asl_gradient_is_finite_where_the_clip_zeroes_a_negative() -> None:
    """p_m = 0 (p below the clip) with γ− < 1: torch.pow alone would give NaN there."""
    logits = torch.tensor([[-6.0, 4.0]], requires_grad=True)
    AsymmetricLoss(gamma_pos=0.5, gamma_neg=0.5, clip=0.05)(logits, torch.tensor([[0.0, 1.0]])).backward()
    assert torch.isfinite(logits.grad).all()


def test_pos_weight_needs_a_positive_and_a_negative_of_every_label() -> None:
    with pytest.raises(ValueError) as error:
        build_loss("bce", [[5, 3, 4], [2, 0, 1]], CLASSES, pos_weight=True)
    assert str(error.value) == (
        "bce pos_weight: label 'Edema' has no positive training entry (3 negatives, 0 positives), so "
        "negatives/positives is undefined; use pos_weight false or a split with both."
    )
    build_loss("bce", [[5, 3, 4], [2, 0, 1]], CLASSES)  # without pos_weight a label without positives is fine


def test_a_loss_of_the_other_task_is_refused_in_one_line() -> None:
    multi = ", ".join(multilabel_losses())
    single = ", ".join(single_label_losses())
    with pytest.raises(ValueError) as error:
        build_loss("ce", COUNTS, CLASSES)
    assert str(error.value) == f"loss 'ce' is single-label; a multi-label task takes one of: {multi}."
    with pytest.raises(ValueError) as error:
        build_loss("asl", [5, 7], ("a", "b"))
    assert str(error.value) == f"loss 'asl' is multi-label; a single-label task takes one of: {single}."
    with pytest.raises(ValueError, match=r"^loss 'attention' is single-label; a multi-label task takes one of: bce, "):
        check_loss_task("attention", multilabel=True)
    check_loss_task("bce", multilabel=True)
    check_loss_task("ce", multilabel=False)
    with pytest.raises(ValueError, match=r"^loss must be one of "):
        check_loss_task("hinge", multilabel=True)


def test_counts_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^2 label counts for 3 labels \['Atelectasis', 'Edema', 'Effusion'\]\.$"):
        build_loss("bce", [[1, 2], [3, 4]], CLASSES)
    with pytest.raises(ValueError, match=r"got shape \(3, 3\)\.$"):
        build_loss("bce", [[1, 2, 3]] * 3, CLASSES)
    with pytest.raises(ValueError, match=r"^class counts must be non-negative integers"):
        build_loss("bce", [[1, -2, 3], [1, 1, 1]], CLASSES)
    with pytest.raises(ValueError, match=r"does not support label smoothing"):
        build_loss("bce", COUNTS, CLASSES, label_smoothing=0.1)
    loss, _ = build_loss("bce", COUNTS, CLASSES)
    with pytest.raises(ValueError, match=r"must both have shape \(batch, labels\), got \(4, 3\) and \(4, 2\)\.$"):
        loss(LOGITS, TARGET[:, :2])


def test_the_counts_of_label_counts_build_every_multilabel_loss() -> None:
    """What the training loop does: one build_loss call with label_counts of the training rows."""
    labels = TARGET.numpy()
    for name in multilabel_losses():
        loss, info = build_loss(name, label_counts(labels), CLASSES, None, {"pos_weight": True, "lr": 1.0})
        assert info["loss"] == name
        assert torch.isfinite(loss(LOGITS, TARGET))
