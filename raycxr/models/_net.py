"""Mobile Freeze-Net: ImageNet MobileNetV2, the first part of its layers frozen, a small head."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from raycxr.models._freeze import (
    MOBILENET_V2_LEAF_LAYERS,
    FreezeMode,
    choose_frozen,
    freeze,
    keep_frozen_batchnorm_in_eval,
    leaf_layers,
)
from raycxr.models._weights import find_imagenet_weights, load_state_dict

HeadName = Literal["gmp", "gap", "mlp"]
Normalization = Literal["unit", "imagenet"]
HEADS = ("gmp", "gap", "mlp")
MIN_IMAGE_SIZE = 32  # MobileNetV2 downsamples by 32
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayscaleInput(nn.Module):
    """uint8 grayscale ``(B, H, W)`` → float ``(B, 3, H, W)``, scaled to [0, 1] (the paper)
    or further normalised with ImageNet's mean and std.

    Part of the model so that the uint8 array travels to the device as it is (4× fewer
    bytes than float) and an exported model takes raw images.
    """

    def __init__(self, normalize: Normalization = "unit") -> None:
        super().__init__()
        if normalize not in ("unit", "imagenet"):
            raise ValueError(f"normalize must be 'unit' or 'imagenet', got {normalize!r}.")
        mean, std = ((0.0,) * 3, (1.0,) * 3) if normalize == "unit" else (_IMAGENET_MEAN, _IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("scale", 1.0 / (torch.tensor(std).view(1, 3, 1, 1) * 255.0))

    channels_last = False  #: output in NHWC memory layout (set by ``FreezeNet.to_channels_last``)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.unsqueeze(1) if images.dim() == 3 else images
        x = (x.float() - self.mean) * self.scale  # broadcasts 1 → 3 channels
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _head(name: str, in_features: int, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """(pooling + feature layers, classifier) of a head; the first output is the embedding."""
    if name == "gmp":  # the paper's code: GlobalMaxPooling2D → Dense(K)
        return nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten()), nn.Linear(in_features, num_classes)
    if name == "gap":  # torchvision's MobileNetV2 classifier
        return (
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2)),
            nn.Linear(in_features, num_classes),
        )
    if name == "mlp":  # the CS 542 report: GAP → 512 → 256 ("feature" layer) → K
        features = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(in_features, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 256),
            nn.ReLU(inplace=True),
        )
        return features, nn.Linear(256, num_classes)
    raise ValueError(f"head must be one of {HEADS}, got {name!r}.")


class FreezeNet(nn.Module):
    """MobileNetV2 backbone with a frozen subset of layers, and a classification head.

    ``train()`` keeps frozen BatchNorm layers in eval mode, so their running statistics
    never change (as Keras does for non-trainable layers).
    """

    def __init__(
        self,
        num_classes: int,
        head: HeadName = "gmp",
        normalize: Normalization = "unit",
        backbone: nn.Module | None = None,
    ) -> None:
        super().__init__()
        mobilenet = backbone if backbone is not None else torchvision.models.mobilenet_v2()
        self.input = GrayscaleInput(normalize)
        self.features = mobilenet.features
        self.pool, self.classifier = _head(head, mobilenet.last_channel, num_classes)
        self.frozen_layers: list[int] = []

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The penultimate (feature) layer, e.g. for t-SNE."""
        return self.pool(self.features(self.input(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(images))

    def train(self, mode: bool = True) -> FreezeNet:
        super().train(mode)
        keep_frozen_batchnorm_in_eval(self)
        return self

    def to_channels_last(self) -> FreezeNet:
        """NHWC layout for weights and activations: faster convolutions on GPUs (tensor cores)."""
        self.input.channels_last = True
        return self.to(memory_format=torch.channels_last)

    def frozen_blocks(self) -> int:
        """How many leading ``features`` blocks are frozen entirely.

        Those blocks (and the input adapter) are a fixed function of the image: no trainable
        parameter, BatchNorm in eval mode, no dropout. A block the freeze cut runs through —
        ``features[9]`` at r = 0.5, a residual block — is not counted, so its skip connection
        is always computed from its own input.
        """
        count = 0
        for block in self.features:
            if not all(getattr(m, "raycxr_frozen", False) for m in leaf_layers(block)):
                break
            count += 1
        return count

    def prefix(self, blocks: int) -> nn.Sequential:
        """Images → activations after the first ``blocks`` feature blocks (modules shared)."""
        return nn.Sequential(self.input, *self.features[:blocks])

    def tail(self, blocks: int) -> FreezeNetTail:
        """Activations after the first ``blocks`` feature blocks → logits (modules shared)."""
        return FreezeNetTail(self, blocks)

    def parameter_counts(self) -> dict[str, int]:
        """Numbers of trainable and frozen parameters."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return {"trainable": trainable, "frozen": frozen}


class FreezeNetTail(nn.Module):
    """The part of a :class:`FreezeNet` after its first ``blocks`` feature blocks.

    ``net.tail(k)(net.prefix(k)(images)) == net(images)``: training the tail on cached
    prefix activations trains the same parameters (shared with ``net``) on the same function.
    """

    def __init__(self, net: FreezeNet, blocks: int) -> None:
        super().__init__()
        self.features = nn.Sequential(*net.features[blocks:])
        self.pool, self.classifier = net.pool, net.classifier

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(activations)))

    def train(self, mode: bool = True) -> FreezeNetTail:
        super().train(mode)
        keep_frozen_batchnorm_in_eval(self)
        return self


def build_model(
    num_classes: int,
    weights: str | Path = "imagenet",
    freeze_ratio: float = 0.5,
    freeze_mode: FreezeMode = "prefix",
    head: HeadName = "gmp",
    normalize: Normalization = "unit",
    seed: int = 0,
) -> FreezeNet:
    """Build a Mobile Freeze-Net.

    Args:
        num_classes: Number of output classes.
        weights: ``"imagenet"`` (torchvision's cache or the offline package), ``"none"``
            (random initialisation), or the path of a torchvision MobileNetV2 state dict.
        freeze_ratio: Fraction r of the 139 backbone leaf layers to freeze; r = 0.5 cuts
            right after the depthwise BatchNorm of ``features[9]``, the paper's cut.
        freeze_mode: ``"prefix"`` freezes the first ⌊r·L⌋ layers; ``"stochastic"``
            freezes ⌊r·L⌋ layers chosen at random with ``seed`` (the paper's baseline).
        head: ``"gmp"`` (paper), ``"gap"`` (torchvision) or ``"mlp"`` (GAP → 512 → 256 → K).
        normalize: ``"unit"`` scales to [0, 1] (paper); ``"imagenet"`` also standardises.
        seed: Seed of the head's initialisation and of stochastic freezing.

    Raises:
        ValueError: A value is out of range or unknown.
        FileNotFoundError: ImageNet weights were asked for and none can be found.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    frozen = choose_frozen(MOBILENET_V2_LEAF_LAYERS, freeze_ratio, freeze_mode, seed)  # validates before any work
    state = None
    if str(weights) != "none":
        state = load_state_dict(find_imagenet_weights(None if str(weights) == "imagenet" else weights))
    with torch.random.fork_rng(devices=[]):  # same seed, same initial weights
        torch.manual_seed(seed)
        mobilenet = torchvision.models.mobilenet_v2()
        model = FreezeNet(num_classes, head, normalize, backbone=mobilenet)
    if state is not None:
        mobilenet.load_state_dict(state)
    layers = leaf_layers(mobilenet.features)
    freeze(layers, frozen)
    model.frozen_layers = frozen
    return model


def check_image_size(size: int) -> None:
    """Raise ValueError if ``size`` is too small for MobileNetV2 (at least 32 pixels)."""
    if size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels for MobileNetV2, got {size}.")
