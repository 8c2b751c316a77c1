"""The built-in backbones: torchvision where it has the model, timm for the rest, and the
from-scratch baselines of the paper's Table 1 (COVID-Net, COVID-Lite: no ImageNet weights).

Each entry turns the library's classifier into :class:`~raycxr.models._registry.Features`
(its convolutional part as a chain of blocks), dropping the library's own pooling and
classifier: raycxr's heads go on top.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from raycxr.models._covidlite import MIN_SIZE as COVIDLITE_MIN_SIZE
from raycxr.models._covidlite import covidlite_features
from raycxr.models._covidnet import MIN_SIZE as COVIDNET_MIN_SIZE
from raycxr.models._covidnet import covidnet_features
from raycxr.models._registry import Backbone, Features, StateDict, register_backbone, register_backbone_family
from raycxr.models._weights import load_into, timm_imagenet, torchvision_imagenet


def _torchvision(
    arch: str, weights: str, *, min_size: int = 32, default_size: int = 224, **kwargs: object
) -> Callable[[Callable[[nn.Module], Features]], Callable[[nn.Module], Features]]:
    """Register torchvision's ``arch``; the decorated function cuts its network into Features."""

    def decorate(extract: Callable[[nn.Module], Features]) -> Callable[[nn.Module], Features]:
        def build(state: StateDict | None) -> Features:
            model = torchvision.models.get_model(arch, weights=None, **kwargs)
            if state is not None:
                load_into(model, state, arch)
            return extract(model)

        register_backbone(
            arch,
            imagenet=torchvision_imagenet(arch, weights),
            min_size=min_size,
            default_size=default_size,
            source=f"torchvision.models.{arch} ({weights})",
        )(build)
        return extract

    return decorate


@_torchvision("mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V1")
def _mobilenet_v2(model: nn.Module) -> Features:
    return Features(model.features, model.last_channel)


@_torchvision("mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1")
def _mobilenet_v3_small(model: nn.Module) -> Features:
    return Features(model.features, model.classifier[0].in_features)


@_torchvision("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V2")
def _mobilenet_v3_large(model: nn.Module) -> Features:
    return Features(model.features, model.classifier[0].in_features)


@_torchvision("vgg16", "VGG16_Weights.IMAGENET1K_V1")
def _vgg16(model: nn.Module) -> Features:
    return Features(model.features, 512)


def _resnet(model: nn.Module) -> Features:
    stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
    blocks = nn.Sequential(stem, model.layer1, model.layer2, model.layer3, model.layer4)
    return Features(blocks, model.fc.in_features)


_torchvision("resnet18", "ResNet18_Weights.IMAGENET1K_V1")(_resnet)
_torchvision("resnet50", "ResNet50_Weights.IMAGENET1K_V2")(_resnet)


@_torchvision("densenet121", "DenseNet121_Weights.IMAGENET1K_V1")
def _densenet121(model: nn.Module) -> Features:
    # torchvision's forward applies a ReLU after ``features`` (after norm5), before pooling.
    return Features(nn.Sequential(*model.features, nn.ReLU()), model.classifier.in_features)


@_torchvision("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1")
def _efficientnet_b0(model: nn.Module) -> Features:
    return Features(model.features, model.classifier[1].in_features)


class InceptionAuxFeatures(nn.Module):
    """Inception-V3's auxiliary branch up to its classifier: ``(B, 768, h, w)`` → ``(B, 768)``.

    torchvision pools the 17×17 map of a 299 px input with a 5×5 window (stride 3) to the
    5×5 its 5×5 convolution needs; maps smaller than 17×17 (inputs below 299 px, down to 75)
    are pooled adaptively to 5×5 instead. At 299 px it is torchvision's branch exactly.
    """

    def __init__(self, aux: nn.Module) -> None:
        super().__init__()
        self.conv0, self.conv1 = aux.conv0, aux.conv1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, kernel_size=5, stride=3) if min(x.shape[-2:]) >= 17 else F.adaptive_avg_pool2d(x, 5)
        x = self.conv1(self.conv0(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


@_torchvision(
    "inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", min_size=75, default_size=299,
    aux_logits=True, init_weights=True, transform_input=False,
)  # fmt: skip
def _inception_v3(model: nn.Module) -> Features:
    names = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")  # fmt: skip
    blocks = nn.Sequential(*(getattr(model, n) for n in names))
    # The auxiliary logits branch off after Mixed_6e; training adds 0.4 × their loss (torchvision's recipe).
    return Features(
        blocks, model.fc.in_features, aux=(names.index("Mixed_6e"), InceptionAuxFeatures(model.AuxLogits), 768)
    )


class TimmFeatures(nn.Module):
    """Any timm model's ``forward_features`` as one block; token outputs ``(B, N, C)`` become ``(B, C, N, 1)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        model.reset_classifier(0, "")
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model.forward_features(x)
        return out.transpose(1, 2).unsqueeze(-1) if out.dim() == 3 else out


def timm_features(model: nn.Module) -> Features:
    """timm's network as blocks: finely for the EfficientNet / MobileNet and ResNet families
    (so their frozen prefix can be cached), else as one block."""
    from timm.models.efficientnet import EfficientNet
    from timm.models.mobilenetv3 import MobileNetV3
    from timm.models.resnet import ResNet

    if isinstance(model, EfficientNet):  # forward_features: stem, blocks, conv_head + bn2
        blocks = [nn.Sequential(model.conv_stem, model.bn1), *model.blocks, nn.Sequential(model.conv_head, model.bn2)]
        return Features(nn.Sequential(*blocks), model.num_features)
    if isinstance(model, MobileNetV3):  # forward_features: stem, blocks (its conv_head is in the head)
        return Features(nn.Sequential(nn.Sequential(model.conv_stem, model.bn1), *model.blocks), model.num_features)
    if isinstance(model, ResNet):
        stem = nn.Sequential(model.conv1, model.bn1, model.act1, model.maxpool)
        blocks = nn.Sequential(stem, model.layer1, model.layer2, model.layer3, model.layer4)
        return Features(blocks, model.num_features)
    return Features(nn.Sequential(TimmFeatures(model)), model.num_features)


def _timm_build(name: str, state: StateDict | None) -> Features:
    import timm

    model = timm.create_model(name, pretrained=False)
    if state is not None:
        load_into(model, state, f"timm:{name}", strict=False)
    return timm_features(model)


@functools.cache
def timm_backbone(name: str) -> Backbone:
    """A registry entry for timm's model ``name`` (``--backbone timm:<name>``).

    Raises:
        ValueError: timm does not know ``name`` (the message lists close names).
    """
    import timm

    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0][:12]}*")[:8]
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(f"timm does not know the model {name!r} (backbone 'timm:{name}'){hint}.")
    size = timm.get_pretrained_cfg(name).input_size[-1] if timm.get_pretrained_cfg(name) else 224
    return Backbone(
        name=f"timm:{name}",
        build=functools.partial(_timm_build, name),
        imagenet=timm_imagenet(name),
        min_size=32,
        default_size=size,
        source=f"timm.create_model({name!r})",
    )


register_backbone(
    "mobilenet_v1",
    imagenet=timm_imagenet("mobilenetv1_100"),
    source="timm.create_model('mobilenetv1_100') (MobileNet V1, width 1.0: the course report's MobileNet)",
)(functools.partial(_timm_build, "mobilenetv1_100"))


def _from_scratch(
    features: Callable[[], tuple[nn.Sequential, int]], name: str
) -> Callable[[StateDict | None], Features]:
    def build(state: StateDict | None) -> Features:
        blocks, channels = features()
        if state is not None:
            load_into(blocks, state, name)
        return Features(blocks, channels)

    return build


register_backbone(
    "covidnet",
    min_size=COVIDNET_MIN_SIZE,
    default_size=224,
    normalize="unit",
    source="COVID-Net (Wang et al. 2020), re-implemented from the paper: raycxr.models._covidnet",
)(_from_scratch(covidnet_features, "covidnet"))
register_backbone(
    "covidlite",
    min_size=COVIDLITE_MIN_SIZE,
    default_size=224,
    normalize="unit",
    source="COVID-Lite (Siddhartha & Santra 2020) with white balance + CLAHE, re-implemented: raycxr.models._covidlite",
)(_from_scratch(covidlite_features, "covidlite"))
register_backbone_family("timm:", timm_backbone)
