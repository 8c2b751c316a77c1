"""The network raycxr trains: a registered backbone, the first part (or a random part) of its
layers frozen, a registered head and a classifier — the Mobile Freeze-Net by default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from raycxr.models._freeze import FreezeMode, choose_frozen, freeze, keep_frozen_batchnorm_in_eval, leaf_layers
from raycxr.models._heads import HeadOptions, HeadPool, get_head
from raycxr.models._registry import Features, Normalization, get_backbone
from raycxr.models._weights import load_state_dict

MIN_IMAGE_SIZE = 32  #: the smallest input of the built-in backbones but Inception-V3 (75)
AUX_LOSS_WEIGHT = 0.4  #: weight of Inception-V3's auxiliary logits' loss (torchvision's recipe)
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


class FreezeNet(nn.Module):
    """A backbone with a frozen subset of layers, a head and a classifier.

    ``forward`` gives ``(B, outputs)`` logits (one logit for a binary task); during training
    a backbone with an auxiliary branch (Inception-V3) gives ``(logits, aux_logits)``.
    ``train()`` keeps frozen BatchNorm layers in eval mode, so their running statistics
    never change (as Keras does for non-trainable layers).
    """

    def __init__(
        self, features: Features, head: nn.Module, width: int, outputs: int, normalize: Normalization = "unit"
    ) -> None:
        super().__init__()
        self.input = GrayscaleInput(normalize)
        self.features = features.blocks
        self.pool = head
        self.classifier = nn.Linear(width, outputs)
        self.aux_at = -1
        self.aux: nn.Module | None = None
        if features.aux is not None:
            self.aux_at = features.aux[0]
            self.aux = nn.Sequential(features.aux[1], nn.Linear(features.aux[2], outputs))
        self.frozen_layers: list[int] = []
        self.backbone = ""

    def run_blocks(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Feature blocks ``start…`` on ``x``: the last output, and the auxiliary logits in training."""
        aux = None
        for i, block in enumerate(self.features[start:], start):
            x = block(x)
            if i == self.aux_at and self.aux is not None and self.aux.training:
                aux = self.aux(x)
        return x, aux

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The feature layer (the head's output: the classifier's input), e.g. for t-SNE or the feature OOD score."""
        return self.pool(self.run_blocks(self.input(images))[0])

    def logits_and_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the flattened feature layer ``(B, D)`` of one pass (the eval forward: no auxiliary logits).

        What the feature OOD score needs besides the logits; an exported bundle's second output.
        """
        features = self.embed(images)
        return self.classifier(features), features.flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x, aux = self.run_blocks(self.input(images))
        logits = self.classifier(self.pool(x))
        return logits if aux is None else (logits, aux)

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
        ``features[9]`` of MobileNetV2 at r = 0.5, a residual block — is not counted, so its
        skip connection is always computed from its own input. Stochastic freezing rarely
        freezes a whole first block, so its count is usually 0.
        """
        count = 0
        for block in self.features:
            if not all(getattr(m, "raycxr_frozen", False) for m in leaf_layers(block)):
                break
            if any(_is_random(m) for m in block.modules()):
                break  # dropout / stochastic depth: random in training, not a fixed function of the image
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


def _is_random(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.dropout._DropoutNd) or type(module).__name__ in ("StochasticDepth", "DropPath")


class FreezeNetTail(nn.Module):
    """The part of a :class:`FreezeNet` after its first ``blocks`` feature blocks.

    ``net.tail(k)(net.prefix(k)(images)) == net(images)``: training the tail on cached
    prefix activations trains the same parameters (shared with ``net``) on the same function.
    (An auxiliary branch fed by a cached block is not run: it only trains itself, never
    the main output, since every layer before it is frozen.)
    """

    def __init__(self, net: FreezeNet, blocks: int) -> None:
        super().__init__()
        self.net, self.start = [net], blocks  # a list: not a submodule, so no parameter twice
        self.features = nn.Sequential(*net.features[blocks:])
        self.pool, self.classifier, self.aux = net.pool, net.classifier, net.aux

    def forward(self, activations: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x, aux = self.net[0].run_blocks(activations, self.start)
        logits = self.classifier(self.pool(x))
        return logits if aux is None else (logits, aux)

    def embed(self, activations: torch.Tensor) -> torch.Tensor:
        """The feature layer (the head's output), as :meth:`FreezeNet.embed` gives it for the images."""
        return self.pool(self.net[0].run_blocks(activations, self.start)[0])

    def train(self, mode: bool = True) -> FreezeNetTail:
        super().train(mode)
        keep_frozen_batchnorm_in_eval(self)
        return self


def build_model(
    backbone: str,
    *,
    num_classes: int,
    weights: str | Path = "imagenet",
    freeze_ratio: float = 0.5,
    freeze_mode: FreezeMode = "prefix",
    head: str = "gmp",
    normalize: Normalization = "unit",
    seed: int = 0,
    image_size: int | None = None,
    head_widths: Sequence[int] = (256,),
    head_dropout: float = 0.0,
    head_pool: HeadPool = "flatten",
) -> FreezeNet:
    """Build a network: a registered backbone, part of it frozen, a registered head.

    The backbone is named first, everything else by keyword (timm's
    ``create_model(name, pretrained=..., **kwargs)``):
    ``build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5)``.

    Args:
        backbone: A registered backbone (:func:`backbone_names`), or ``timm:<name>``.
        num_classes: Number of outputs: the classes, or 1 (one sigmoid logit for a binary task).
        weights: ``"imagenet"`` (the library's download and cache; MobileNetV2 also the offline
            package), ``"none"`` (random initialisation), or the path of a state dict of the
            backbone's source network (torchvision's or timm's).
        freeze_ratio: Fraction r of the backbone's leaf layers to freeze; for MobileNetV2
            (139 layers) r = 0.5 cuts right after the depthwise BatchNorm of ``features[9]``,
            the paper's cut.
        freeze_mode: ``"prefix"`` freezes the first ⌊r·L⌋ layers; ``"stochastic"``
            freezes ⌊r·L⌋ layers chosen at random with ``seed`` (the paper's baseline).
        head: A registered head (``gmp``, ``gap``, ``mlp``, ``dense``).
        normalize: ``"unit"`` scales to [0, 1] (paper); ``"imagenet"`` also standardises.
        seed: Seed of the initialisation and of stochastic freezing.
        image_size: Input side; needed by heads that flatten (default: the backbone's).
        head_widths, head_dropout, head_pool: Options of the ``dense`` head.

    Raises:
        ValueError: A value is out of range or unknown, or weights do not fit the backbone.
        FileNotFoundError: ImageNet weights were asked for and none can be had.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1 (1: one logit of a binary task), got {num_classes}.")
    spec = get_backbone(backbone)
    size = spec.default_size if image_size is None else image_size
    check_image_size(size, backbone)
    head_spec = get_head(head)
    options = HeadOptions(tuple(head_widths), head_dropout, head_pool)
    state = None
    if str(weights) == "imagenet":
        if spec.imagenet is None:
            raise ValueError(f"backbone {backbone!r} has no ImageNet weights: use --weights none (or a file).")
        state = spec.imagenet()
    elif str(weights) != "none":
        state = load_state_dict(weights)
    with torch.random.fork_rng(devices=[]):  # same seed, same initial weights (loading comes after init)
        torch.manual_seed(seed)
        features = spec.build(state)
        shape = _output_shape(features.blocks, size) if head_spec.spatial else (features.channels, 1, 1)
        pool, width = head_spec.build(shape, options)
        model = FreezeNet(features, pool, width, num_classes, normalize)
    layers = leaf_layers(model.features)
    frozen = choose_frozen(len(layers), freeze_ratio, freeze_mode, seed)
    freeze(layers, frozen)
    model.frozen_layers = frozen
    model.backbone = spec.name
    return model


@torch.no_grad()
def _output_shape(blocks: nn.Sequential, size: int) -> tuple[int, int, int]:
    """``(C, h, w)`` of the blocks' output for a ``size`` × ``size`` image (one eval-mode pass)."""
    training = blocks.training
    blocks.eval()
    try:
        out = blocks(torch.zeros(1, 3, size, size))
    finally:
        blocks.train(training)
    return tuple(out.shape[1:])


def check_image_size(size: int, backbone: str = "mobilenet_v2") -> None:
    """Raise ValueError if ``size`` is below ``backbone``'s minimum input size."""
    spec = get_backbone(backbone)
    if size < spec.min_size:
        raise ValueError(f"image_size must be at least {spec.min_size} pixels for {spec.name}, got {size}.")


def check_weights(backbone: str, weights: str | Path) -> None:
    """Fail now, not in a trial, if ``weights`` cannot be had for ``backbone`` or do not fit it.

    Raises:
        ValueError: Unknown backbone, a from-scratch backbone asked for ImageNet weights, or a
            file that is not a state dict of the backbone.
        FileNotFoundError: ImageNet weights that cannot be found or downloaded (the message
            names the backbone and the file to pass with ``--weights``), or a missing file.
    """
    spec = get_backbone(backbone)
    if str(weights) == "none":
        return
    if str(weights) == "imagenet":
        if spec.imagenet is None:
            raise ValueError(f"backbone {backbone!r} has no ImageNet weights: use --weights none (or a file).")
        spec.imagenet()
        return
    with torch.random.fork_rng(devices=[]):
        spec.build(load_state_dict(weights))
