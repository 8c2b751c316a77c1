"""Models: registered backbones (the Mobile Freeze-Net's MobileNetV2 by default), part of
their layers frozen, registered heads, and where their weights come from."""

from __future__ import annotations

from raycxr.models import _backbones  # noqa: F401  (registers the built-in backbones and timm:)
from raycxr.models._freeze import choose_frozen, freeze, leaf_layers
from raycxr.models._heads import Head, HeadOptions, get_head, head_names, register_head
from raycxr.models._net import (
    AUX_LOSS_WEIGHT,
    MIN_IMAGE_SIZE,
    FreezeNet,
    FreezeNetTail,
    GrayscaleInput,
    build_model,
    check_image_size,
    check_weights,
)
from raycxr.models._registry import (
    Backbone,
    Features,
    backbone_names,
    get_backbone,
    register_backbone,
    register_backbone_family,
)
from raycxr.models._weights import find_imagenet_weights, load_state_dict

__all__ = [
    "AUX_LOSS_WEIGHT",
    "MIN_IMAGE_SIZE",
    "Backbone",
    "Features",
    "FreezeNet",
    "FreezeNetTail",
    "GrayscaleInput",
    "Head",
    "HeadOptions",
    "backbone_names",
    "build_model",
    "check_image_size",
    "check_weights",
    "choose_frozen",
    "find_imagenet_weights",
    "freeze",
    "get_backbone",
    "get_head",
    "head_names",
    "leaf_layers",
    "load_state_dict",
    "register_backbone",
    "register_backbone_family",
    "register_head",
]
