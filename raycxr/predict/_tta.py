"""Test-time augmentation: each image's logits averaged over augmented views of it (off by default).

The views are the original image and ``N`` copies under training's ``light`` augmentation
(:mod:`raycxr.augment`: rotation up to 5°, shift and zoom up to 5 %, brightness and contrast
up to 10 %; no flip), drawn from a stream seeded by (``TTA_SEED``, view), so the same files in
the same batches give the same predictions. The views are rounded back to uint8, the input every
runtime takes (PyTorch, ONNX, TorchScript). Logits are averaged (the temperature and the decision
rule then apply as without TTA); the OOD score is the original image's.
"""

from __future__ import annotations

import numpy as np
import torch

from raycxr.augment import AugmentSpec, BatchAugment

#: The preset of the augmented views.
TTA_PRESET = "light"
#: The seed of the views' stream.
TTA_SEED = 0
#: Most augmented views per image ``--tta`` accepts.
MAX_TTA = 32


def check_tta(views: int) -> int:
    """``views`` if it is a number of augmented views in [0, MAX_TTA], else a one-line ValueError."""
    if isinstance(views, bool) or not isinstance(views, int) or not 0 <= views <= MAX_TTA:
        raise ValueError(f"--tta must be an integer in [0, {MAX_TTA}] (augmented views per image), got {views!r}")
    return views


def augmented_views(images: np.ndarray, views: int) -> list[np.ndarray]:
    """``views`` augmented uint8 copies of the batch ``images`` ``(B, S, S)`` (the original not included)."""
    augment = BatchAugment(AugmentSpec.resolve(TTA_PRESET))
    batch = torch.from_numpy(np.ascontiguousarray(images))
    out = []
    for view in range(1, views + 1):
        x, _ = augment.stream(TTA_SEED, view)(batch)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8).numpy())
    return out
