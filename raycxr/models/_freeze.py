"""Freeze a prefix (the paper's Mobile Freeze-Net) or a random subset of a backbone's layers."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

FreezeMode = Literal["prefix", "stochastic"]
MOBILENET_V2_LEAF_LAYERS = 139  #: len(leaf_layers(mobilenet_v2().features))


def leaf_layers(features: nn.Module) -> list[nn.Module]:
    """The layers ``freeze_ratio`` counts, in the order they are defined (forward order for
    every built-in backbone): modules without children, and modules that hold parameters
    of their own (timm's ``BatchNormAct2d`` holds its BatchNorm's and an activation child).

    For MobileNetV2 these are its 139 Conv2d, BatchNorm2d and ReLU6 modules (the equivalent
    of the 154 Keras layers, which also count pads, adds and the input).
    """
    return [
        m
        for m in features.modules()
        if next(m.children(), None) is None or next(m.parameters(recurse=False), None) is not None
    ]


def choose_frozen(n_layers: int, ratio: float, mode: FreezeMode = "prefix", seed: int = 0) -> list[int]:
    """Positions of the ⌊ratio · n_layers⌋ layers to freeze.

    Raises:
        ValueError: ``ratio`` is outside [0, 1] or ``mode`` is unknown.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"freeze_ratio must lie in [0, 1], got {ratio}.")
    count = math.floor(ratio * n_layers)
    if mode == "prefix":
        return list(range(count))
    if mode == "stochastic":
        generator = torch.Generator().manual_seed(seed)
        return sorted(torch.randperm(n_layers, generator=generator)[:count].tolist())
    raise ValueError(f"freeze_mode must be 'prefix' or 'stochastic', got {mode!r}.")


def freeze(layers: list[nn.Module], positions: list[int]) -> None:
    """Stop gradients of the layers at ``positions``; mark them so BatchNorm stays in eval.

    Only a layer's own parameters are frozen: a layer with children (timm's ``BatchNormAct2d``,
    a ViT's class token holder) leaves its children to their own positions.
    """
    for i in positions:
        for p in layers[i].parameters(recurse=False):
            p.requires_grad_(False)
        layers[i].raycxr_frozen = True  # read by FreezeNet.train()


def keep_frozen_batchnorm_in_eval(module: nn.Module) -> None:
    """Put frozen BatchNorm layers in eval mode: their running statistics stay fixed (Keras)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and getattr(m, "raycxr_frozen", False):
            m.eval()
