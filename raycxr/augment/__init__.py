"""Training-batch augmentation on the device: presets, one magnitude knob, kornia operations, mixup / cutmix.

Applied to the uint8 batch after it is gathered, during training only (validation, test and
predict batches never pass through it). See :mod:`raycxr.augment._batch` for why kornia and what
the model receives, and :mod:`raycxr.augment._mix` for the mixed loss.
"""

from __future__ import annotations

from raycxr.augment._batch import CLAHE_CLIP, CLAHE_GRID, AugmentStream, BatchAugment, pixel_ops
from raycxr.augment._mix import Mixed, mix
from raycxr.augment._spec import (
    AUGMENT_FIELDS,
    PRESETS,
    UNSCALED,
    AugmentSpec,
    Preset,
    check_augment_field,
    check_magnitude,
)

__all__ = [
    "AUGMENT_FIELDS",
    "CLAHE_CLIP",
    "CLAHE_GRID",
    "PRESETS",
    "UNSCALED",
    "AugmentSpec",
    "AugmentStream",
    "BatchAugment",
    "Mixed",
    "Preset",
    "check_augment_field",
    "check_magnitude",
    "mix",
    "pixel_ops",
]
