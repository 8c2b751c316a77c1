"""Logits of a K-class model, or of a binary model with one output logit.

A binary model has one logit z per image (a sigmoid output). It is the two-class model
with logits [0, z]: softmax([0, z]) = [1 − σ(z), σ(z)], so every softmax loss and the
class probabilities work on it unchanged, and CE on [0, z] is BCE-with-logits on z.
"""

from __future__ import annotations

import torch


def as_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` class logits: ``(B, K ≥ 2)`` unchanged, one logit ``(B, 1)`` as ``[0, z]``.

    Raises:
        ValueError: ``logits`` is not a ``(B, K)`` tensor.
    """
    if logits.dim() != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (batch, classes), got {tuple(logits.shape)}.")
    if logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def binary_logit(logits: torch.Tensor) -> torch.Tensor:
    """The ``(B,)`` logit z of the positive class (label 1): ``(B, 1)`` as is, ``(B, 2)`` as z₁ − z₀.

    z₁ − z₀ is the logit of the two-class softmax: σ(z₁ − z₀) = softmax(z)₁.

    Raises:
        ValueError: ``logits`` is neither ``(B, 1)`` nor ``(B, 2)``.
    """
    if logits.dim() != 2 or logits.shape[1] not in (1, 2):
        raise ValueError(f"binary logits must have shape (batch, 1) or (batch, 2), got {tuple(logits.shape)}.")
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(B, K)``: softmax, or ``[1 − σ(z), σ(z)]`` for one logit (K = 2)."""
    return torch.softmax(as_class_logits(logits), dim=1)
