"""The head registry: what turns a backbone's feature map into the embedding the classifier reads.

A head maps ``(B, C, h, w)`` to ``(B, D)``, the feature layer (t-SNE, saliency, the
report's embedding); the net adds the final ``Linear(D, outputs)`` itself. Adding a head
is one ``@register_head`` function here.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Literal

from torch import nn

HeadPool = Literal["flatten", "avg", "max"]


@dataclasses.dataclass(frozen=True)
class HeadOptions:
    """The settings a head may read (``--head-widths``, ``--head-dropout``, ``--head-pool``)."""

    widths: tuple[int, ...] = (256,)
    dropout: float = 0.0
    pool: HeadPool = "flatten"


@dataclasses.dataclass(frozen=True)
class Head:
    """One registry entry: ``build(shape, options)`` → ``(module, embedding width)``.

    ``shape`` is the backbone output's ``(C, h, w)`` at the run's image size.
    """

    name: str
    build: Callable[[tuple[int, int, int], HeadOptions], tuple[nn.Module, int]]
    description: str
    spatial: bool = False  #: reads ``h`` and ``w`` (e.g. flattens), so the net measures them


_HEADS: dict[str, Head] = {}


def register_head(name: str, description: str, spatial: bool = False) -> Callable:
    def decorate(build: Callable) -> Callable:
        if name in _HEADS:
            raise ValueError(f"head {name!r} is already registered.")
        _HEADS[name] = Head(name, build, description, spatial)
        return build

    return decorate


def head_names() -> tuple[str, ...]:
    return tuple(_HEADS)


def get_head(name: str) -> Head:
    """Raises ValueError naming the choices for an unknown head."""
    if name not in _HEADS:
        raise ValueError(f"head must be one of {', '.join(_HEADS)}, got {name!r}.")
    return _HEADS[name]


def _pool(kind: HeadPool) -> list[nn.Module]:
    if kind == "avg":
        return [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if kind == "max":
        return [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    return [nn.Flatten()]


def _dense(in_features: int, widths: Sequence[int], dropout: float) -> OrderedDict[str, nn.Module]:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, width in enumerate(widths):
        name = "feature_dense" if i == len(widths) - 1 else f"dense{i}"
        if dropout > 0:
            layers[f"dropout{i}"] = nn.Dropout(dropout)
        layers[name] = nn.Linear(in_features, width)
        layers[f"relu{i}"] = nn.ReLU(inplace=True)
        in_features = width
    return layers


@register_head("gmp", "global max pooling (the paper's code: GlobalMaxPooling2D → Dense)")
def _gmp(shape: tuple[int, int, int], options: HeadOptions) -> tuple[nn.Module, int]:
    return nn.Sequential(*_pool("max")), shape[0]


@register_head("gap", "global average pooling + dropout 0.2 (torchvision's MobileNetV2 classifier)")
def _gap(shape: tuple[int, int, int], options: HeadOptions) -> tuple[nn.Module, int]:
    return nn.Sequential(*_pool("avg"), nn.Dropout(0.2)), shape[0]


@register_head("mlp", "global average pooling → 512 → 256 (the course report's MobileNet V1 head)")
def _mlp(shape: tuple[int, int, int], options: HeadOptions) -> tuple[nn.Module, int]:
    layers = OrderedDict([("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())])
    return nn.Sequential(layers | _dense(shape[0], (512, 256), 0.0)), 256


@register_head(
    "dense",
    "--head-pool (flatten, avg, max) → [dropout → dense → ReLU] per --head-widths; the last is 'feature_dense' "
    "(the course report's VGG16 head: flatten → 256)",
    spatial=True,
)
def _dense_head(shape: tuple[int, int, int], options: HeadOptions) -> tuple[nn.Module, int]:
    if not options.widths or min(options.widths) < 1:
        raise ValueError(f"head 'dense' needs positive --head-widths, got {list(options.widths)}.")
    c, h, w = shape
    in_features = c * h * w if options.pool == "flatten" else c
    pool = OrderedDict((f"pool{i}", m) for i, m in enumerate(_pool(options.pool)))
    return nn.Sequential(pool | _dense(in_features, options.widths, options.dropout)), options.widths[-1]
