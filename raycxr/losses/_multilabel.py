"""The multi-label losses: one sigmoid per label, unknown (NaN) targets masked.

Every loss here takes ``(B, L)`` logits and ``(B, L)`` float targets (1 positive, 0 negative, NaN
unknown; :mod:`raycxr.multilabel`) and returns the mean of its per-entry terms over the *known*
entries of the batch. A batch without a known entry gives 0, still connected to the logits (its
gradient is 0, not NaN), so a training step on it is a no-op rather than a poisoned model.

Masked entries are replaced by 0 before the per-entry terms are computed and their terms dropped
with ``torch.where``: multiplying a NaN term by 0 would leave NaN in the value and the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from raycxr.losses._losses import _FOCAL_GAMMA
from raycxr.losses._registry import ParamSpec, register_loss
from raycxr.losses._stats import ClassStats


def _known(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(z, t, known)``: float logits, targets with NaN replaced by 0, and the mask of known entries.

    Raises:
        ValueError: ``logits`` and ``target`` are not the same ``(B, L)`` shape.
    """
    if logits.dim() != 2 or tuple(logits.shape) != tuple(target.shape):
        raise ValueError(
            f"multi-label logits and targets must both have shape (batch, labels), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}."
        )
    z = logits.float()
    target = target.to(z.dtype)
    known = ~torch.isnan(target)
    return z, torch.where(known, target, torch.zeros_like(target)), known


def masked_mean(terms: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean of ``terms`` over the ``known`` entries; 0 (with a gradient path) when none is known."""
    kept = torch.where(known, terms, torch.zeros_like(terms))
    return kept.sum() / known.sum().clamp_min(1)


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``x ** exponent`` for x ≥ 0 with 0⁰ = 1 and a finite gradient at x = 0 for every exponent ≥ 0.

    ``torch.pow`` differentiates 0^γ for 0 < γ < 1 to ``inf`` (and ``inf · 0 = NaN`` through a clamp).
    """
    if exponent == 0:
        return torch.ones_like(x)
    positive = x > 0
    safe = torch.where(positive, x, torch.ones_like(x))
    return torch.where(positive, safe**exponent, torch.zeros_like(x))


class MultiLabelBCE(nn.Module):
    """Binary cross-entropy with logits per label, masked mean; optional per-label positive weight.

    ``−[w_l · y log σ(z) + (1 − y) log(1 − σ(z))]`` (``F.binary_cross_entropy_with_logits`` with
    ``pos_weight=w``): w_l = negatives / positives of label l weighs its positives as much as its
    negatives in total.
    """

    def __init__(self, pos_weight: Sequence[float] | torch.Tensor | None = None) -> None:
        super().__init__()
        weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.register_buffer("pos_weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        z, t, known = _known(logits, target)
        if self.pos_weight is not None and self.pos_weight.shape[0] != z.shape[1]:
            raise ValueError(f"bce has {self.pos_weight.shape[0]} positive weights for {z.shape[1]} labels.")
        terms = F.binary_cross_entropy_with_logits(z, t, pos_weight=self.pos_weight, reduction="none")
        return masked_mean(terms, known)


class MultiLabelFocalLoss(nn.Module):
    """Sigmoid focal loss per label (``torchvision.ops.sigmoid_focal_loss``), masked mean.

    ``−α_t (1 − p_t)^γ log p_t`` with p = σ(z), p_t = p for a positive and 1 − p for a negative,
    α_t = α for a positive and 1 − α for a negative (Lin et al.: α 0.25, γ 2).
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        z, t, known = _known(logits, target)
        return masked_mean(sigmoid_focal_loss(z, t, self.alpha, self.gamma, reduction="none"), known)


class AsymmetricLoss(nn.Module):
    """Asymmetric Loss (ASL) of Ridnik et al., "Asymmetric Loss For Multi-Label Classification" (ICCV 2021).

    Per entry, with p = σ(z) and the shifted probability p_m = max(p − m, 0)::

        L+ = −(1 − p)^γ+ · log p            (positives)
        L− = −p_m^γ− · log(1 − p_m)         (negatives)

    γ− > γ+ focuses the loss on the hard negatives of the many easy ones; the clip m discards
    negatives with p ≤ m altogether. The paper's choice is γ+ = 0, γ− = 4, m = 0.05. Unlike the
    authors' code (a sum over the batch), the terms are averaged over the known entries, as every
    loss here; the focusing weights are differentiated (their ``disable_torch_grad_focal_loss=False``).
    """

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05) -> None:
        super().__init__()
        if gamma_pos < 0 or gamma_neg < 0 or not 0.0 <= clip < 1.0:
            raise ValueError(
                f"asl needs gamma_pos ≥ 0, gamma_neg ≥ 0 and a clip in [0, 1), got {gamma_pos}, {gamma_neg}, {clip}."
            )
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.clip = float(clip)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        z, t, known = _known(logits, target)
        p = torch.sigmoid(z)
        if self.clip > 0:
            p_m = (p - self.clip).clamp(min=0.0)
            log_neg = torch.log1p(-p_m)  # 1 − p_m ≥ m > 0
        else:
            p_m, log_neg = p, F.logsigmoid(-z)
        positive = _power(torch.sigmoid(-z), self.gamma_pos) * F.logsigmoid(z)
        negative = _power(p_m, self.gamma_neg) * log_neg
        return masked_mean(-(t * positive + (1.0 - t) * negative), known)


def positive_weights(counts: Sequence[Sequence[int]], classes: Sequence[str]) -> list[float]:
    """Per-label ``negatives / positives`` of the training rows (``counts`` is ``[[negatives…], [positives…]]``).

    Raises:
        ValueError: A label has no known positive or no known negative training entry (its weight
            would be infinite or 0); the message names it.
    """
    negatives, positives = counts
    for name, neg, pos in zip(classes, negatives, positives):
        if pos == 0 or neg == 0:
            missing = "positive" if pos == 0 else "negative"
            raise ValueError(
                f"bce pos_weight: label {name!r} has no {missing} training entry ({neg} negatives, {pos} positives), "
                "so negatives/positives is undefined; use pos_weight false or a split with both."
            )
    return [neg / pos for neg, pos in zip(negatives, positives)]


# --- Registrations: the parameter names are TrainConfig fields (focal_alpha, focal_gamma shared). ---


@register_loss(
    "bce",
    description="binary cross-entropy per label (multi-label); pos_weight weighs positives by negatives/positives",
    params=(
        ParamSpec(
            "pos_weight",
            False,
            "bce: weigh each label's positive terms by its training negatives/positives",
            kind="bool",
            scales="weighs each label's positive terms by its negatives/positives, so a lower loss would mean "
            "unweighted positives",
        ),
    ),
    multilabel=True,
)
def _bce(
    counts: Any, classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    if not p["pos_weight"]:
        return MultiLabelBCE(), {}
    weights = positive_weights(counts, classes)
    return MultiLabelBCE(weights), {"pos_weights": weights}


@register_loss(
    "focal_ml",
    description="sigmoid focal loss per label −α_t (1 − p_t)^γ log p_t (multi-label; torchvision's)",
    params=(
        ParamSpec(
            "focal_alpha",
            0.25,
            "focal_ml loss: α weighs positive entries, 1 − α negative ones",
            low=0.0,
            high=1.0,
            scales="weighs positives by α and negatives by 1 − α in the multi-label focal loss, so a lower loss "
            "would mean less weight on the harder entries",
        ),
        _FOCAL_GAMMA,
    ),
    multilabel=True,
)
def _focal_ml(
    counts: Any, classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    return MultiLabelFocalLoss(p["focal_alpha"], p["focal_gamma"]), {}


@register_loss(
    "asl",
    description="asymmetric loss of Ridnik et al. 2021 (multi-label): focusing γ+ / γ− and negatives shifted by m",
    params=(
        ParamSpec(
            "gamma_pos",
            0.0,
            "asl: focusing exponent γ+ of the positive terms (the paper: 0)",
            low=0.0,
            low_closed=True,
            scales="shrinks the positive terms of the asymmetric loss by (1 − p)^γ+, so a lower loss would mean a "
            "larger gamma_pos",
        ),
        ParamSpec(
            "gamma_neg",
            4.0,
            "asl: focusing exponent γ− of the negative terms (the paper: 4)",
            low=0.0,
            low_closed=True,
            scales="shrinks the negative terms of the asymmetric loss by p_m^γ−, so a lower loss would mean a "
            "larger gamma_neg",
        ),
        ParamSpec(
            "asl_clip",
            0.05,
            "asl: probability margin m; negatives count with p_m = max(p − m, 0) (the paper: 0.05)",
            low=0.0,
            high=1.0,
            low_closed=True,
            scales="lowers every negative probability of the asymmetric loss by m, so a lower loss would mean a "
            "larger asl_clip",
        ),
    ),
    multilabel=True,
)
def _asl(
    counts: Any, classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    return AsymmetricLoss(p["gamma_pos"], p["gamma_neg"], p["asl_clip"]), {}
