"""Mixup and cutmix of a batch, and the loss they call for.

One λ and one pairing per batch (the mixup paper's implementation and timm's): images are
mixed with a permutation of the same batch, and the loss is ``λ·L(out, y) + (1 − λ)·L(out, y[perm])``.
That form needs nothing of the loss but integer targets, so it holds for every loss of
:mod:`raycxr.losses` (the attention loss, focal, one-logit binary ones…), unlike soft-label mixing,
which weighted and binary losses cannot take.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class Mixed:
    """How a batch was mixed: image ``i`` is ``λ`` of itself and ``1 − λ`` of image ``perm[i]``."""

    perm: torch.Tensor
    lam: float

    def loss(self, loss_of: Callable[[torch.Tensor], torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
        """``λ·loss_of(targets) + (1 − λ)·loss_of(targets[perm])``."""
        perm = self.perm.to(targets.device)
        return self.lam * loss_of(targets) + (1.0 - self.lam) * loss_of(targets[perm])


def mix(x: torch.Tensor, mixup: float, cutmix: float, rng: np.random.Generator) -> tuple[torch.Tensor, Mixed | None]:
    """Mixup (``mixup`` = α > 0) or cutmix (``cutmix`` = α > 0) of a float ``(B, H, W)`` batch; with both, one
    of them per batch, at even odds (timm's ``switch_prob`` 0.5).

    Returns:
        The mixed batch and how it was mixed, or ``x`` and ``None`` when both are off.
    """
    if mixup <= 0 and cutmix <= 0:
        return x, None
    use_cutmix = cutmix > 0 and (mixup <= 0 or rng.random() < 0.5)
    alpha = cutmix if use_cutmix else mixup
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(len(x)), device=x.device)
    if not use_cutmix:
        return lam * x + (1.0 - lam) * x[perm], Mixed(perm, lam)
    height, width = x.shape[-2:]
    cut = np.sqrt(1.0 - lam)  # the box covers 1 − λ of the image (before clipping at the border)
    cy, cx = rng.integers(height), rng.integers(width)
    y0, y1 = int(np.clip(cy - cut * height / 2, 0, height)), int(np.clip(cy + cut * height / 2, 0, height))
    x0, x1 = int(np.clip(cx - cut * width / 2, 0, width)), int(np.clip(cx + cut * width / 2, 0, width))
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)  # the area actually kept
    return out, Mixed(perm, lam)
