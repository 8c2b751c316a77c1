"""Augmenting a gathered uint8 batch on its device, with a seeded stream per (seed, epoch, rank).

Built on ``kornia.augmentation`` rather than ``torchvision.transforms.v2``: kornia draws every
parameter per image and applies it to the whole batch in one call (one ``grid_sample`` for all
the affine warps, CLAHE only on the images drawn for it), on whatever device the batch is,
whereas v2 on a batched tensor draws one set of parameters for the whole batch. kornia draws
from torch's global generator; each batch runs inside ``torch.random.fork_rng`` with the
generator seeded from the stream, so the global state (dropout, a resumed run's saved state) is
untouched and the same seed gives the same batches.

What the model gets: **float32 on the uint8 scale, [0, 255]**, shape ``(B, H, W)`` as the uint8
batch. The model's input module (:class:`raycxr.models.GrayscaleInput`) computes
``(x.float() − mean·255) / (std·255)``, which for a float batch on that scale is exactly what
it does for uint8: normalisation happens once, in the model, and nothing is rounded back to
uint8 (fine noise or a mixup blend would otherwise be quantised).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from kornia import augmentation as K
from torch import nn

from raycxr.augment._mix import Mixed, mix
from raycxr.augment._spec import AugmentSpec

#: CLAHE's clip limit and tile grid (COVID-Lite's pre-processing uses CLAHE; 2 is OpenCV's usual limit).
CLAHE_CLIP, CLAHE_GRID = 2.0, (8, 8)


def pixel_ops(spec: AugmentSpec, size: tuple[int, int]) -> nn.Sequential:
    """The kornia operations ``spec`` turns on, in order, for ``(B, 1, H, W)`` images in [0, 1]."""
    ops: list[nn.Module] = []
    if spec.hflip > 0:
        ops.append(K.RandomHorizontalFlip(p=spec.hflip))
    if spec.crop > 0:
        # "resample": one batched warp; kornia's default "slice" crops and resizes image by image (1.5× slower).
        crop = K.RandomResizedCrop(size, scale=(1.0 - spec.crop, 1.0), ratio=(0.8, 1.25), cropping_mode="resample")
        ops.append(crop)
    if spec.rotate or spec.translate or spec.scale or spec.shear:
        ops.append(
            K.RandomAffine(
                degrees=spec.rotate,
                translate=(spec.translate, spec.translate) if spec.translate else None,
                scale=(1.0 - spec.scale, 1.0 + spec.scale) if spec.scale else None,
                shear=spec.shear if spec.shear else None,
                p=1.0,
            )
        )
    if spec.brightness > 0:
        ops.append(K.RandomBrightness((1.0 - spec.brightness, 1.0 + spec.brightness), p=1.0))
    if spec.contrast > 0:
        ops.append(K.RandomContrast((1.0 - spec.contrast, 1.0 + spec.contrast), p=1.0))
    if spec.gamma > 0:
        ops.append(K.RandomGamma((1.0 - spec.gamma, 1.0 + spec.gamma), p=1.0))
    if spec.clahe > 0:
        ops.append(K.RandomClahe(clip_limit=(CLAHE_CLIP, CLAHE_CLIP), grid_size=CLAHE_GRID, p=spec.clahe))
    if spec.blur > 0:
        kernel = 2 * math.ceil(3 * spec.blur) + 1
        ops.append(K.RandomGaussianBlur(kernel, sigma=(min(0.1, spec.blur), spec.blur), p=0.5))
    if spec.noise > 0:
        ops.append(K.RandomGaussianNoise(std=spec.noise, p=0.5))
    return nn.Sequential(*ops)


class AugmentStream:
    """One epoch's augmentation on one rank: call it on each gathered batch, in order."""

    def __init__(self, spec: AugmentSpec, seed: int, epoch: int, rank: int) -> None:
        self.spec = spec
        self.rng = np.random.default_rng([seed, epoch, rank])
        self._ops: dict[tuple[int, int], nn.Sequential] = {}

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, Mixed | None]:
        """The augmented batch (float32 ``(B, H, W)`` in [0, 255]) and how it was mixed (``None``: not mixed).

        Args:
            x: ``(B, H, W)`` uint8 images, on any device.
        """
        size = (int(x.shape[-2]), int(x.shape[-1]))
        ops = self._ops.get(size)
        if ops is None:
            ops = self._ops[size] = pixel_ops(self.spec, size)
        batch_seed = int(self.rng.integers(2**63 - 1))
        cuda = [x.device] if x.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(batch_seed)
            if cuda:
                with torch.cuda.device(x.device):
                    torch.cuda.manual_seed(batch_seed)
            out = x.float()
            if len(ops):
                out = ops(out.unsqueeze(1).div_(255.0)).squeeze(1).clamp_(0.0, 1.0).mul_(255.0)
            return mix(out, self.spec.mixup, self.spec.cutmix, self.rng)


class BatchAugment:
    """The training-batch augmentation of a run; ``stream(seed, epoch, rank)`` gives one epoch's.

    Two ranks of a data-parallel run get different streams, and the same (seed, epoch, rank)
    the same one, whatever happened before (a resumed run augments its next epoch as the
    uninterrupted run would have).
    """

    def __init__(self, spec: AugmentSpec) -> None:
        if not spec.active:
            raise ValueError("BatchAugment of a spec that changes nothing: use no augmentation instead.")
        self.spec = spec

    def stream(self, seed: int, epoch: int, rank: int = 0) -> AugmentStream:
        return AugmentStream(self.spec, seed, epoch, rank)
