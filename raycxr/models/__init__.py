"""Models: the Mobile Freeze-Net (MobileNetV2 with frozen layers), its heads and weights."""

from __future__ import annotations

from raycxr.models._freeze import choose_frozen, freeze, leaf_layers
from raycxr.models._net import (
    HEADS,
    MIN_IMAGE_SIZE,
    FreezeNet,
    FreezeNetTail,
    GrayscaleInput,
    build_model,
    check_image_size,
)
from raycxr.models._weights import find_imagenet_weights, load_state_dict

__all__ = [
    "HEADS",
    "MIN_IMAGE_SIZE",
    "FreezeNet",
    "FreezeNetTail",
    "GrayscaleInput",
    "build_model",
    "check_image_size",
    "choose_frozen",
    "find_imagenet_weights",
    "freeze",
    "leaf_layers",
    "load_state_dict",
]
