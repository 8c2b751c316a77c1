"""Class-weighted losses: the paper's attention loss and its baselines (CE, WCCE, focal, CB)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raycxr.losses._stats import ClassStats

LOSSES = ("attention", "ce", "wcce", "focal", "cb", "alpha")

#: The α the paper's notebooks hard-code, for (COVID, Lung_Opacity, Normal, Viral Pneumonia).
PAPER_ALPHA = {"COVID": 0.00525, "Lung_Opacity": 0.00579, "Normal": 0.00566, "Viral Pneumonia": 0.00513}


class WeightedCrossEntropy(nn.Module):
    """``mean_i(−w[y_i] · log p_{i, y_i})``: divided by the batch size, as Keras does.

    PyTorch's ``cross_entropy(weight=w)`` divides by Σ w[y_i] instead, which cancels a
    global scale of w (the attention loss's ``n``) and changes the relative weight of
    batches; this keeps the paper's reduction.
    """

    def __init__(self, weight: Sequence[float] | torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nll = F.cross_entropy(logits.float(), target, reduction="none")
        if self.weight is not None:
            nll = nll * self.weight[target]
        return nll.mean()


class FocalLoss(nn.Module):
    """Softmax focal loss ``−α (1 − p_y)^γ log p_y`` (Lin et al.), batch mean.

    ``alpha`` is a scalar (the same for every class, 0.25 in Lin et al.) or one value
    per class.
    """

    def __init__(self, alpha: float | Sequence[float] = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be ≥ 0, got {gamma}.")
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32))
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        alpha = self.alpha if self.alpha.dim() == 0 else self.alpha[target]
        return (-alpha * (1.0 - log_p.exp()) ** self.gamma * log_p).mean()


def attention_alpha(
    stats: ClassStats,
    beta: float = 0.05,
    gamma: float = 0.1,
    q: float = 0.25,
    n: float = 0.001,
    classes: Sequence[str] | None = None,
) -> tuple[list[float], list[float]]:
    """The attention loss's class weights from class statistics.

    α¹_c = r_inter(c) − β·class_im(c) − γ·σ_intra(c) (the signs of the paper's
    Figure 1 and text) and α_c = n / (1 − (α¹_c)^q).

    Returns:
        ``(alpha, alpha1)``, in class order.

    Raises:
        ValueError: Some α¹_c lies outside [0, 1) (the message names the class and the
            values behind it), or q or n is not positive.
    """
    if q <= 0 or n <= 0:
        raise ValueError(f"attention loss needs q > 0 and n > 0, got q={q}, n={n}.")
    names = list(classes) if classes is not None else [str(c) for c in range(len(stats.r_inter))]
    alpha1 = [r - beta * im - gamma * s for r, im, s in zip(stats.r_inter, stats.class_im, stats.sigma_intra)]
    for c, a1 in enumerate(alpha1):
        if not 0.0 <= a1 < 1.0:
            raise ValueError(
                f"attention loss: alpha1 of class {names[c]!r} is {a1:.4f}, outside [0, 1) "
                f"(r_inter={stats.r_inter[c]:.4f}, class_im={stats.class_im[c]:.4f}, "
                f"sigma_intra={stats.sigma_intra[c]:.4f}, beta={beta}, gamma={gamma})."
            )
    return [n / (1.0 - a1**q) for a1 in alpha1], alpha1


def inverse_frequency_weights(counts: Sequence[int]) -> list[float]:
    """WCCE weights N / (K · n_c) (scikit-learn's "balanced" class weights)."""
    counts = np.asarray(counts, dtype=float)
    return (counts.sum() / (len(counts) * counts)).tolist()


def class_balanced_weights(counts: Sequence[int], beta: float = 0.999) -> list[float]:
    """Class-balanced weights (1 − β) / (1 − β^n_c) of Cui et al., scaled to sum to K."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"cb_beta must lie in [0, 1), got {beta}.")
    counts = np.asarray(counts, dtype=float)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return (weights / weights.sum() * len(counts)).tolist()


def paper_alpha(classes: Sequence[str]) -> list[float]:
    """The paper's hard-coded α, ordered by ``classes``.

    Raises:
        ValueError: ``classes`` are not the four Kaggle class names.
    """
    if sorted(classes) != sorted(PAPER_ALPHA):
        raise ValueError(f"alpha preset 'paper' needs the classes {sorted(PAPER_ALPHA)}, got {list(classes)}.")
    return [PAPER_ALPHA[c] for c in classes]


def build_loss(
    name: str,
    class_counts: Sequence[int],
    classes: Sequence[str],
    stats: ClassStats | None = None,
    *,
    beta: float = 0.05,
    gamma: float = 0.1,
    q: float = 0.25,
    n: float = 0.001,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    cb_beta: float = 0.999,
    alpha: Sequence[float] | str | None = None,
) -> tuple[nn.Module, dict[str, object]]:
    """A loss module by name, and what defines it (class weights and their inputs).

    Args:
        name: One of ``attention``, ``ce``, ``wcce``, ``focal``, ``cb`` (class-balanced)
            or ``alpha`` (explicit class weights ``alpha``: a list or ``"paper"``).
        class_counts: Training images per class.
        classes: Class names, in label order.
        stats: Class statistics; required by ``attention``.

    Raises:
        ValueError: Unknown name, missing statistics or α, or out-of-range parameters.
    """
    if name == "ce":
        return WeightedCrossEntropy(), {"loss": name}
    if name == "wcce":
        weights = inverse_frequency_weights(class_counts)
        return WeightedCrossEntropy(weights), {"loss": name, "class_weights": weights}
    if name == "cb":
        weights = class_balanced_weights(class_counts, cb_beta)
        return WeightedCrossEntropy(weights), {"loss": name, "class_weights": weights, "cb_beta": cb_beta}
    if name == "focal":
        return FocalLoss(focal_alpha, focal_gamma), {
            "loss": name,
            "focal_alpha": focal_alpha,
            "focal_gamma": focal_gamma,
        }
    if name == "alpha":
        if alpha is None:
            raise ValueError("loss 'alpha' needs alpha: a list of class weights or 'paper'.")
        weights = paper_alpha(classes) if alpha == "paper" else [float(a) for a in alpha]
        if len(weights) != len(classes):
            raise ValueError(f"alpha has {len(weights)} values but there are {len(classes)} classes {list(classes)}.")
        return WeightedCrossEntropy(weights), {"loss": name, "class_weights": weights}
    if name == "attention":
        if stats is None:
            raise ValueError("loss 'attention' needs class statistics.")
        weights, alpha1 = attention_alpha(stats, beta, gamma, q, n, classes)
        info = {
            "loss": name,
            "class_weights": weights,
            "alpha1": alpha1,
            "beta": beta,
            "gamma": gamma,
            "q": q,
            "n": n,
            "class_stats": stats.to_dict(),
        }
        return WeightedCrossEntropy(weights), info
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}.")
