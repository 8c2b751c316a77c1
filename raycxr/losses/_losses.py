"""The losses and their registrations: the paper's attention loss and its baselines.

Every loss is declared here with :func:`~raycxr.losses.register_loss`, with the TrainConfig
fields it reads and their valid ranges. Every softmax loss also takes a binary model's one
logit z, ``(B, 1)``, as the two logits [0, z] (:func:`~raycxr.losses.as_class_logits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from raycxr.losses._logits import as_class_logits, binary_logit
from raycxr.losses._registry import ParamSpec, register_loss
from raycxr.losses._stats import ClassStats

#: The α the paper's notebooks hard-code, for (COVID, Lung_Opacity, Normal, Viral Pneumonia).
PAPER_ALPHA = {"COVID": 0.00525, "Lung_Opacity": 0.00579, "Normal": 0.00566, "Viral Pneumonia": 0.00513}


class WeightedCrossEntropy(nn.Module):
    """``mean_i(−w[y_i] · log p_{i, y_i})``: divided by the batch size, as Keras does.

    Logits are ``(B, K)``, or one logit ``(B, 1)`` read as [0, z] (then CE is BCE-with-logits).

    PyTorch's ``cross_entropy(weight=w)`` divides by Σ w[y_i] instead, which cancels a
    global scale of w (the attention loss's ``n``) and changes the relative weight of
    batches; this keeps the paper's reduction.

    ``label_smoothing`` ε replaces the one-hot target by ``(1 − ε) · onehot + ε / K``
    (``F.cross_entropy(..., label_smoothing=ε)``); the image's term is still weighted by the
    weight of its own class, w[y_i] (torch's ``weight=`` with smoothing would weigh each
    class's share of the smoothed target by that class's weight instead). On one logit read as
    [0, z] that is BCE-with-logits on the smoothed target ``y (1 − ε) + ε / 2``.
    """

    def __init__(self, weight: Sequence[float] | torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = as_class_logits(logits.float())
        nll = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        if self.weight is not None:
            nll = nll * self.weight[target]
        return nll.mean()


class FocalLoss(nn.Module):
    """Softmax focal loss ``−α (1 − p_y)^γ log p_y`` (Lin et al.), batch mean.

    ``alpha`` is a scalar (the same for every class, 0.25 in Lin et al.) or one value
    per class. One logit ``(B, 1)`` is read as [0, z].
    """

    def __init__(self, alpha: float | Sequence[float] = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be ≥ 0, got {gamma}.")
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32))
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(as_class_logits(logits.float()), dim=1).gather(1, target[:, None]).squeeze(1)
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


class BinaryFocalLoss(nn.Module):
    """Sigmoid focal loss of Lin et al. on one logit, batch mean (torchvision's ``sigmoid_focal_loss``).

    ``−α_t (1 − p_t)^γ log p_t`` with p = σ(z), p_t = p for label 1 and 1 − p for label 0,
    α_t = α for label 1 and 1 − α for label 0 (α 0.25, γ 2 in Lin et al. and the CS 542
    report). Logits are ``(B, 1)``, or ``(B, 2)`` read as z = z₁ − z₀.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        z = binary_logit(logits.float())
        return sigmoid_focal_loss(z, target.to(z.dtype), self.alpha, self.gamma, reduction="mean")


def balanced_weights(counts: Sequence[int]) -> list[float]:
    """Class weights of Tyagi et al.'s "custom weighted balanced categorical cross-entropy" (our reading).

    The formula of Tyagi et al. (the ResNet-18 row of the paper's Table 1) is not in our
    sources; this is a documented, defensible definition, not theirs verbatim. We
    implement the class-weighted categorical cross-entropy ``mean_i(−w[y_i] log p_{i,y_i})``
    (batch mean, as every loss here) with

        w_c = (N − n_c) / N  /  Z,    Z = Σ_k (N − n_k) n_k / N²,
        i.e. w_c = N (N − n_c) / Σ_k (N − n_k) n_k,

    for n_c training images of class c out of N. Why: the standard "balanced"
    cross-entropy (Xie & Tu's HED) weighs the positives by the fraction of negatives,
    β = |Y₋| / |Y|, and the negatives by 1 − β; (N − n_c) / N is that β for class c taken
    one-vs-rest, which for K = 2 classes gives w₀ ∝ n₁ and w₁ ∝ n₀ — exactly balanced BCE
    up to a constant factor. The normalisation Z (our choice) makes the mean weight over
    the training images Σ_c w_c n_c / N = 1, so the loss keeps CE's scale whatever the
    class balance. For K > 2 it is milder than inverse frequency (``wcce``): the weight
    ratio of two classes is (N − n_a) / (N − n_b) rather than n_b / n_a.

    Raises:
        ValueError: Fewer than two classes have training images (every weight would be 0/0).
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    norm = float(((total - counts) * counts).sum())
    if norm <= 0:
        raise ValueError(
            f"cwbcce needs training images of at least two classes, got counts {counts.astype(int).tolist()}."
        )
    return (total * (total - counts) / norm).tolist()


# --- Registrations: one entry per loss; the parameter names are TrainConfig fields. ---

_FOCAL_GAMMA = ParamSpec(
    "focal_gamma",
    2.0,
    "focal loss: exponent γ of the modulating factor (1 − p_t)^γ; 0 gives α-weighted CE",
    low=0.0,
    low_closed=True,
    scales="shrinks every term of the focal loss by (1 − p_t)^γ, so a lower loss would mean a larger focal_gamma",
)
_ALPHA1 = "changes every class weight α_c of the attention loss through α¹_c, so a lower loss would mean other weights"


@register_loss(
    "attention",
    description="the paper's attention loss: CE weighted by α_c = n / (1 − (α¹_c)^q) from class statistics",
    params=(
        ParamSpec(
            "beta", 0.05, "attention loss: weight of class_im in α¹ (any real; α¹ must end in [0, 1))", scales=_ALPHA1
        ),
        ParamSpec(
            "gamma",
            0.1,
            "attention loss: weight of sigma_intra in α¹ (any real; α¹ must end in [0, 1))",
            scales=_ALPHA1,
        ),
        ParamSpec(
            "q",
            0.25,
            "attention loss: exponent q",
            low=0.0,
            scales="sets the size of every class weight α_c = n / (1 − (α¹_c)^q) of the attention loss, so a lower "
            "loss would mean other weights",
        ),
        ParamSpec(
            "n",
            0.001,
            "attention loss: scale n of every α_c",
            low=0.0,
            scales="scales the attention loss linearly, so a lower loss would mean a smaller n",
        ),
    ),
    needs_stats=True,
    smoothing=True,
)
def _attention(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    """The attention loss is single-label by construction.

    Its weights α_c come from statistics of the images *of class c*: r_inter correlates them with
    each other class's images, σ_intra with each other, class_im counts them. A multi-label image
    belongs to several labels or none, so "the images of class c" are not a partition and the
    statistics (and a softmax cross-entropy they weigh) are undefined there; the multi-label
    losses are ``bce``, ``focal_ml`` and ``asl``.
    """
    assert stats is not None  # build_loss checks needs_stats
    weights, alpha1 = attention_alpha(stats, p["beta"], p["gamma"], p["q"], p["n"], classes)
    info = {"class_weights": weights, "alpha1": alpha1, "class_stats": stats.to_dict()}
    return WeightedCrossEntropy(weights, p.get("label_smoothing", 0.0)), info


@register_loss("ce", description="unweighted cross-entropy (softmax, or BCE-with-logits on one logit)", smoothing=True)
def _ce(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    return WeightedCrossEntropy(None, p.get("label_smoothing", 0.0)), {}


@register_loss("wcce", description="cross-entropy weighted by inverse class frequency N / (K n_c)", smoothing=True)
def _wcce(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    weights = inverse_frequency_weights(counts)
    return WeightedCrossEntropy(weights, p.get("label_smoothing", 0.0)), {"class_weights": weights}


@register_loss(
    "focal",
    description="softmax focal loss −α (1 − p_y)^γ log p_y (Lin et al.)",
    params=(
        ParamSpec(
            "focal_alpha",
            0.25,
            "focal loss: α, the same for every class (a scale of the loss)",
            low=0.0,
            high=1.0,
            high_closed=True,
            scales="scales the focal loss linearly, so a lower loss would mean a smaller focal_alpha",
        ),
        _FOCAL_GAMMA,
    ),
)
def _focal(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    return FocalLoss(p["focal_alpha"], p["focal_gamma"]), {}


@register_loss(
    "cb",
    description="cross-entropy with the class-balanced weights (1 − β) / (1 − β^n_c) of Cui et al.",
    params=(
        ParamSpec(
            "cb_beta",
            0.999,
            "class-balanced loss: β; 0 gives equal weights, → 1 inverse frequency",
            low=0.0,
            high=1.0,
            low_closed=True,
            scales="reweights the classes of the class-balanced loss, so a lower loss would mean other weights",
        ),
    ),
    smoothing=True,
)
def _cb(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    weights = class_balanced_weights(counts, p["cb_beta"])
    return WeightedCrossEntropy(weights, p.get("label_smoothing", 0.0)), {"class_weights": weights}


@register_loss(
    "alpha",
    description="cross-entropy weighted by given class weights α (or the paper's hard-coded ones)",
    params=(
        ParamSpec(
            "alpha",
            None,
            "class weights in class order, or 'paper' for the paper's α",
            low=0.0,
            kind="reals",
            choices=("paper",),
            scales="weighs every term of the loss by its class's α, so a lower loss would mean smaller weights",
        ),
    ),
    smoothing=True,
)
def _alpha(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    alpha = p["alpha"]
    weights = paper_alpha(classes) if alpha == "paper" else [float(a) for a in alpha]
    if len(weights) != len(classes):
        raise ValueError(f"alpha has {len(weights)} values but there are {len(classes)} classes {list(classes)}.")
    return WeightedCrossEntropy(weights, p.get("label_smoothing", 0.0)), {"class_weights": weights}


@register_loss(
    "binary_focal",
    description="sigmoid focal loss on one logit −α_t (1 − p_t)^γ log p_t (Lin et al.; the CS 542 report)",
    params=(
        ParamSpec(
            "focal_alpha",
            0.25,
            "binary focal loss: α weighs label 1, 1 − α label 0 (0 or 1 drops a class)",
            low=0.0,
            high=1.0,
            scales="weighs label 1 by α and label 0 by 1 − α in the binary focal loss, so a lower loss would mean "
            "less weight on the harder label",
        ),
        _FOCAL_GAMMA,
    ),
    binary_only=True,
)
def _binary_focal(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    return BinaryFocalLoss(p["focal_alpha"], p["focal_gamma"]), {}


@register_loss(
    "cwbcce",
    description="custom weighted balanced CE (Tyagi et al.; our reading): weights ∝ (N − n_c), mean weight 1",
    smoothing=True,
)
def _cwbcce(
    counts: list[int], classes: tuple[str, ...], stats: ClassStats | None, p: dict[str, Any]
) -> tuple[nn.Module, dict[str, object]]:
    weights = balanced_weights(counts)
    return WeightedCrossEntropy(weights, p.get("label_smoothing", 0.0)), {"class_weights": weights}
