"""COVID-Lite (Siddhartha & Santra 2020), re-implemented from the paper for training from scratch.

The paper (arXiv 2006.13873) pre-processes each chest X-ray with white balance followed by CLAHE
(contrast-limited adaptive histogram equalisation) and classifies it with a depth-wise separable CNN
("DSCNN", trained with sparse categorical cross-entropy), which it describes as light: 8.4 MB without
quantisation, i.e. about 2.1 M float32 parameters. The layer-by-layer configuration is not reproducible
from the text; what follows lists what the paper says and what this module chose.

Pre-processing (:class:`CLAHE`, the first block of :func:`covidlite_features`; no parameters):

- Paper: white balance, then CLAHE, on RGB renderings of the X-rays. The white-balance algorithm's
  parameters are not given. Chosen: the "simplest colour balance" (per channel, clip the ``saturation``
  fraction of darkest and of brightest pixels and stretch the rest linearly to [0, 1]), ``saturation``
  1 %. For a grayscale image repeated into three channels — our case — white balance has no colour
  cast to correct: gray-world scaling is the identity, and this one reduces to a per-image contrast
  stretch between the 1st and 99th percentiles, identical in the three channels.
- The stretch also makes the block robust to the input normalisation: it is invariant to any
  per-channel affine map with positive scale, so ``'unit'`` input (uint8 / 255, in [0, 1], which CLAHE
  expects) and ImageNet-standardised input (outside [0, 1], which ``kornia``'s CLAHE refuses) give the
  same output up to float rounding. A constant channel (no range) becomes 0.
- Paper: CLAHE; clip limit and tile grid not given. Chosen: clip limit 2.0 (OpenCV's convention: a
  multiple of the mean histogram bin, 256 bins) on an 8 × 8 grid of tiles, computed by
  ``kornia.enhance.equalize_clahe`` (each channel on its own; the result is in [0, 1]). kornia needs
  each image side larger than the grid (at least 9 pixels for 8 × 8).

Network (blocks 1–6 of :func:`covidlite_features`):

- Paper: input 224 × 224 × 3; depth-wise separable convolutions; about 2.1 M parameters (8.4 MB).
  Layer counts, widths, strides and dropout not reproducible. Chosen, in the style of Keras
  ``SeparableConv2D`` stacks (the paper used Keras): a plain 3×3 convolution, 32 channels, stride 2;
  then five stages of two separable convolutions each (depthwise 3×3 → pointwise 1×1 → BatchNorm →
  ReLU, no normalisation between the depthwise and the pointwise step, as ``SeparableConv2D``) with
  64, 128, 256, 512, 1024 channels, the first four followed by 2×2 max pooling. Output: 1024 channels at
  1/32 of the input (7 × 7 at 224); ``MIN_SIZE`` = 32 gives 1 × 1. Parameters: 2.13 M, so an 8.5 MB
  float32 model, matching the paper's 8.4 MB.
- Paper's classifier (global pooling / dense / dropout) is not part of this module: our heads are added
  generically, and the dropout rate (not given) is theirs. No dropout inside the features.
- Initialisation: Kaiming normal (fan-out) for convolutions, BatchNorm weight 1 and bias 0.
"""

from __future__ import annotations

import torch
from kornia.enhance import equalize_clahe
from torch import nn

MIN_SIZE = 32  #: total stride; inputs of at least MIN_SIZE × MIN_SIZE pixels give a non-empty output
STEM_CHANNELS = 32
STAGE_CHANNELS = (64, 128, 256, 512, 1024)
_EPS = 1e-6


class CLAHE(nn.Module):
    """White balance (a per-channel percentile stretch), then CLAHE; no parameters.

    Input: ``(B, C, H, W)`` floats in any affine scaling of the image (``'unit'`` [0, 1] or ImageNet-
    standardised); output: the same shape, in [0, 1], same dtype. ``H`` and ``W`` must exceed the grid.

    Args:
        clip_limit: CLAHE contrast limit, a multiple of the mean count of the 256-bin histogram of a
            tile (OpenCV's convention); 0 disables clipping.
        grid: Number of tiles along H and W.
        saturation: Fraction of pixels clipped at each end by the white balance, in [0, 0.5); 0 is a
            min-max rescaling.
    """

    def __init__(self, clip_limit: float = 2.0, grid: tuple[int, int] = (8, 8), saturation: float = 0.01) -> None:
        super().__init__()
        if clip_limit < 0:
            raise ValueError(f"clip_limit must be non-negative, got {clip_limit}.")
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(f"grid must be two positive tile counts, got {grid}.")
        if not 0 <= saturation < 0.5:
            raise ValueError(f"saturation must be in [0, 0.5), got {saturation}.")
        self.clip_limit = float(clip_limit)
        self.grid = (int(grid[0]), int(grid[1]))
        self.saturation = float(saturation)

    def extra_repr(self) -> str:
        return f"clip_limit={self.clip_limit}, grid={self.grid}, saturation={self.saturation}"

    def white_balance(self, images: torch.Tensor) -> torch.Tensor:
        """Stretch each image's channel between its ``saturation`` and ``1 - saturation`` quantiles to [0, 1]."""
        b, c, h, w = images.shape
        flat = images.reshape(b, c, h * w)
        if self.saturation > 0:
            # the (k+1)-th smallest and largest values; topk exports to ONNX (kthvalue does not) and,
            # unlike torch.quantile, has no input size limit
            k = int(self.saturation * (h * w - 1))
            low = flat.topk(k + 1, dim=-1, largest=False).values[..., -1:]
            high = flat.topk(k + 1, dim=-1, largest=True).values[..., -1:]
        else:
            low = flat.amin(dim=-1, keepdim=True)
            high = flat.amax(dim=-1, keepdim=True)
        stretched = (flat - low) / (high - low).clamp_min(_EPS)
        return stretched.clamp(0.0, 1.0).reshape(b, c, h, w)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"CLAHE expects (B, C, H, W) images, got shape {tuple(images.shape)}.")
        x = self.white_balance(images.float())
        return equalize_clahe(x, clip_limit=self.clip_limit, grid_size=self.grid).to(images.dtype)


class SeparableConv(nn.Sequential):
    """Depthwise 3×3 → pointwise 1×1 (as Keras ``SeparableConv2D``, no bias) → BatchNorm → ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def _stage(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [SeparableConv(in_channels, out_channels), SeparableConv(out_channels, out_channels)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def covidlite_features(clip_limit: float = 2.0, grid: tuple[int, int] = (8, 8)) -> tuple[nn.Sequential, int]:
    """COVID-Lite's pre-processing and convolutional part, and its number of output channels.

    Args:
        clip_limit: CLAHE contrast limit of the first block.
        grid: CLAHE tile grid of the first block.

    Returns:
        ``(blocks, channels)``: an ``nn.Sequential`` of 7 blocks in forward order — :class:`CLAHE`
        (parameter-free), the stride-2 3×3 stem, five separable-convolution stages — mapping
        ``(B, 3, H, W)`` floats to ``(B, 1024, H/32, W/32)`` (rounded down); each block takes exactly the
        previous block's output.
    """
    blocks: list[nn.Module] = [
        CLAHE(clip_limit=clip_limit, grid=grid),
        nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(STEM_CHANNELS),
            nn.ReLU(inplace=True),
        ),
    ]
    channels = STEM_CHANNELS
    for i, out in enumerate(STAGE_CHANNELS):
        blocks.append(_stage(channels, out, pool=i < len(STAGE_CHANNELS) - 1))
        channels = out
    features = nn.Sequential(*blocks)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return features, channels
