"""COVID-Net (Wang, Lin & Wong 2020), re-implemented from the paper for training from scratch.

The paper (Sci. Rep. 10:19549, and arXiv 2003.09871) describes the network through its Figure 2 and a
paragraph of text; the exact layer widths came out of a machine-driven design exploration (GenSynth) and
are not published. What follows lists what the paper says and what this module chose where it is silent.

Structure:

- Paper: a 7×7 convolution first, then PEPX modules in four stages, "PEPX1.1–1.3, PEPX2.1–2.4,
  PEPX3.1–3.6, PEPX4.1–4.3" (3, 4, 6, 3 modules) in the figure, then flatten → FC → FC → FC → softmax.
  Chosen: the same 3/4/6/3 stages after a 7×7 stem; the flatten and FC layers are left out (our
  heads — pooling and linear — are added generically by the caller).
- Paper: the stem's stride is not given. Chosen: stride 2, padding 3, followed by BatchNorm and ReLU.
- Paper: where the feature maps shrink is shown only by the shapes in the figure. Chosen: a 2×2 max
  pooling at the start of every stage, so the stages run at 1/4, 1/8, 1/16 and 1/32 of the input and
  the output is ``H/32 × W/32`` (15×15 at the paper's 480×480; ``MIN_SIZE`` = 32 gives 1×1).
- Paper: "selective long-range connectivity", drawn as a Conv1×1 beside each stage whose output, with
  the outputs of the stage's earlier PEPX modules, feeds every later PEPX module (densely connected).
  Chosen: inside a stage, ``total = conv1x1(x)``; the first PEPX takes the stage input ``x``; then
  ``total = total + pepx(previous input)`` and each later PEPX takes the running ``total``; the stage
  outputs ``total`` (the sum of the Conv1×1 and all PEPX outputs), which is what the figure's arrows
  into the next stage carry. The connections are merged by addition, not concatenation (the figure
  does not say which; addition keeps the widths fixed and the parameter count near the paper's).
  Connections that skip whole stages are not modelled beyond this sum: every stage boundary carries
  one tensor, so each stage is one block of :func:`covidnet_features` and the dense connections stay
  inside blocks.
- Paper: PEPX = first-stage projection (1×1, to a lower dimension), expansion (1×1, to a higher
  dimension different from the input's), depthwise 3×3, second-stage projection (1×1, lower), extension
  (1×1, to the output dimension). Widths not given. Chosen: projection to ``min(c_in, c_out) / 2``
  channels, expansion to ``3 c_out / 4`` (above the projection, below the input and the output), the
  depthwise 3×3 at the expansion width, projection back to ``min(c_in, c_out) / 2``, extension to
  ``c_out``; all rounded to multiples of 8.
- Paper: no normalisation or activation is named. Chosen: every convolution (the five of each PEPX,
  the stage Conv1×1s and the stem) is followed by BatchNorm and ReLU (needed to train a 16-module net
  from scratch at batch 8), so the summed features are non-negative as in a DenseNet.
- Paper: widths not given; the published COVID-Net (released as COVIDNet-CXR3-B/CXR4-B) has 11.75 M
  parameters and 7.50 G multiply-accumulates at 480×480, including its FC head. Chosen: stem 64
  channels, stage widths 128, 256, 512, 1024 (the ResNet-50 progression, halved), which give 8.22 M
  parameters and 6.76 G MACs at 480×480 without a head; a GAP → 1024 → 256 → 3 FC head (our guess at
  the paper's) would bring it to 9.53 M. ``width`` scales every width (rounded to a multiple of 8, at least 8).
- Initialisation: Kaiming normal (fan-out) for convolutions, BatchNorm weight 1 and bias 0, as in
  torchvision's ResNets (not given in the paper; the network is trained from scratch).
"""

from __future__ import annotations

import torch
from torch import nn

MIN_SIZE = 32  #: total stride; inputs of at least MIN_SIZE × MIN_SIZE pixels give a non-empty output
STEM_CHANNELS = 64
STAGE_CHANNELS = (128, 256, 512, 1024)
STAGE_MODULES = (3, 4, 6, 3)


def _round(channels: float) -> int:
    return max(8, round(channels / 8) * 8)


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class PEPX(nn.Sequential):
    """Projection (1×1) → expansion (1×1) → depthwise 3×3 → projection (1×1) → extension (1×1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        projection = _round(min(in_channels, out_channels) / 2)
        expansion = _round(3 * out_channels / 4)
        super().__init__(
            ConvBNReLU(in_channels, projection),
            ConvBNReLU(projection, expansion),
            ConvBNReLU(expansion, expansion, kernel_size=3, groups=expansion),
            ConvBNReLU(expansion, projection),
            ConvBNReLU(projection, out_channels),
        )


class DenseStage(nn.Module):
    """One stage: 2×2 max pooling, then PEPX modules densely connected by addition with a Conv1×1.

    Output: the sum of the Conv1×1 shortcut and of every PEPX output of the stage.
    """

    def __init__(self, in_channels: int, out_channels: int, modules: int) -> None:
        super().__init__()
        if modules < 1:
            raise ValueError(f"A stage needs at least one PEPX module, got {modules}.")
        self.pool = nn.MaxPool2d(2)
        self.shortcut = ConvBNReLU(in_channels, out_channels)
        self.pepx = nn.ModuleList(PEPX(in_channels if i == 0 else out_channels, out_channels) for i in range(modules))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        total = self.shortcut(x) + self.pepx[0](x)
        for module in self.pepx[1:]:
            total = total + module(total)  # not in place: ``total`` was the module's input
        return total


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def covidnet_features(width: float = 1.0) -> tuple[nn.Sequential, int]:
    """COVID-Net's convolutional part and its number of output channels.

    Args:
        width: Multiplier of every channel count (1.0: stem 64, stages 128/256/512/1024).

    Returns:
        ``(blocks, channels)``: an ``nn.Sequential`` of 5 blocks in forward order — the 7×7 stem, then
        one :class:`DenseStage` per stage — mapping ``(B, 3, H, W)`` floats to ``(B, channels, H/32, W/32)``
        (rounded down); each block takes exactly the previous block's output.

    Raises:
        ValueError: ``width`` is not positive.
    """
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}.")
    stem = _round(STEM_CHANNELS * width)
    blocks: list[nn.Module] = [ConvBNReLU(3, stem, kernel_size=7, stride=2)]
    channels = stem
    for stage_channels, modules in zip(STAGE_CHANNELS, STAGE_MODULES):
        out = _round(stage_channels * width)
        blocks.append(DenseStage(channels, out, modules))
        channels = out
    features = nn.Sequential(*blocks)
    _init(features)
    return features, channels
