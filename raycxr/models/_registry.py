"""The backbone registry: every backbone raycxr can train, one entry each (timm's ``register_model``).

A backbone entry says how to build the network's convolutional part, where its ImageNet
weights come from, its minimum and default input size and its normalisation. The part it
builds is a :class:`Features`: an ``nn.Sequential`` of blocks in forward order, so that

* ``freeze_ratio`` counts the leaf layers of the blocks (:func:`~raycxr.models.leaf_layers`);
* the frozen-prefix activation cache can cut between blocks;
* any head (:mod:`raycxr.models._heads`) fits on the last block's ``(B, C, H, W)`` output.

Adding a backbone is one ``@register_backbone`` function in :mod:`raycxr.models._backbones`
(or its own module imported there); nothing else names it. This module imports no
backbone: :mod:`raycxr.models` imports :mod:`raycxr.models._backbones`, which registers
the built-in ones and the ``timm:`` family here (timm's layout: ``models/__init__``
imports every model module).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Normalization = Literal["unit", "imagenet"]
StateDict = dict[str, torch.Tensor]


@dataclasses.dataclass
class Features:
    """A backbone's convolutional part, ready for a head.

    Attributes:
        blocks: The blocks in forward order: ``blocks[k]`` takes exactly ``blocks[k - 1]``'s
            output, images ``(B, 3, H, W)`` go into ``blocks[0]``, ``(B, channels, h, w)``
            comes out of the last.
        channels: Channels of the last block's output.
        aux: ``(k, module, width)``: an auxiliary classifier branch fed by ``blocks[k]``'s
            output, giving a ``(B, width)`` vector during training (Inception-V3's auxiliary
            logits; the classifier layer to the classes is added by the net).
    """

    blocks: nn.Sequential
    channels: int
    aux: tuple[int, nn.Module, int] | None = None


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One registry entry.

    Attributes:
        name: The name ``--backbone`` takes.
        build: ``build(state)`` → :class:`Features`; ``state`` is a state dict of the source
            model (torchvision's or timm's full network) to load first, or ``None`` for random
            initialisation.
        imagenet: ``imagenet()`` → the ImageNet state dict ``build`` takes, from the library's
            own download and cache; raises FileNotFoundError (naming the file to pass with
            ``--weights``) when it cannot be had. ``None``: the backbone has no ImageNet weights
            (trained from scratch, as COVID-Net and COVID-Lite in the paper's Table 1).
        min_size: Smallest input side (pixels) the network accepts.
        default_size: The input side it was designed for.
        normalize: Its default input normalisation.
        source: Where the architecture comes from (for the model card).
    """

    name: str
    build: Callable[[StateDict | None], Features]
    imagenet: Callable[[], StateDict] | None
    min_size: int = 32
    default_size: int = 224
    normalize: Normalization = "imagenet"
    source: str = ""


_BACKBONES: dict[str, Backbone] = {}
#: Families of backbones named by a prefix and a library's own name (``timm:<name>``):
#: prefix → ``factory(name)`` → :class:`Backbone`.
_FAMILIES: dict[str, Callable[[str], Backbone]] = {}


def register_backbone(
    name: str,
    *,
    imagenet: Callable[[], StateDict] | None = None,
    min_size: int = 32,
    default_size: int = 224,
    normalize: Normalization = "imagenet",
    source: str = "",
) -> Callable[[Callable[[StateDict | None], Features]], Callable[[StateDict | None], Features]]:
    """Decorator registering ``build`` under ``name``.

    Raises:
        ValueError: ``name`` is taken or starts with a family's prefix (``timm:``).
    """

    def decorate(build: Callable[[StateDict | None], Features]) -> Callable[[StateDict | None], Features]:
        if name in _BACKBONES or name.startswith(tuple(_FAMILIES)):
            raise ValueError(f"backbone name {name!r} is already registered or reserved.")
        _BACKBONES[name] = Backbone(name, build, imagenet, min_size, default_size, normalize, source)
        return build

    return decorate


def register_backbone_family(prefix: str, factory: Callable[[str], Backbone]) -> None:
    """Accept ``<prefix><name>`` for any ``name`` ``factory`` knows (``timm:`` for timm's models).

    Raises:
        ValueError: ``prefix`` does not end with ``:`` or is taken.
    """
    if not prefix.endswith(":") or prefix in _FAMILIES:
        raise ValueError(f"backbone family prefix {prefix!r} must end with ':' and be new.")
    _FAMILIES[prefix] = factory


def backbone_names() -> tuple[str, ...]:
    """The registered backbones (``timm:<name>`` is accepted besides these)."""
    return tuple(_BACKBONES)


def get_backbone(name: str) -> Backbone:
    """The registry entry of ``name``; ``timm:<model>`` builds an entry for any timm model.

    The built-in backbones are registered when :mod:`raycxr.models` is imported (it imports
    :mod:`raycxr.models._backbones`), before any caller can reach this function.

    Raises:
        ValueError: Unknown name (the message lists the choices), or a ``timm:`` name timm
            does not know.
    """
    for prefix, factory in _FAMILIES.items():
        if name.startswith(prefix):
            return factory(name[len(prefix) :])
    if name not in _BACKBONES:
        families = "".join(f" or {prefix}<name>" for prefix in _FAMILIES)
        raise ValueError(f"backbone must be one of {', '.join(_BACKBONES)}{families}, got {name!r}.")
    return _BACKBONES[name]
