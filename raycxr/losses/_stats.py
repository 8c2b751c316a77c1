"""Monte-Carlo class statistics behind the attention loss's class weights.

The paper does not publish how r_inter, class_im and σ_intra are computed (its notebooks
hard-code the resulting α). raycxr defines them on images downsampled to ``size`` ×
``size`` and flattened, with Pearson's r between random pairs:

* ``r_inter(c)``: the largest, over other classes c′, mean r between S random pairs
  (x ∈ c, y ∈ c′) — how easily c is confused with its nearest class;
* ``sigma_intra(c)``: 1 − mean r between S random pairs inside c — its spread;
* ``class_im(c)``: n_c / max_c′ n_c′ — its relative size.

Computed on the training rows only, with a seeded generator.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class ClassStats:
    """Per-class statistics (lists in class order) and how they were estimated."""

    r_inter: list[float]
    sigma_intra: list[float]
    class_im: list[float]
    nearest_class: list[int]
    samples: int
    size: int
    seed: int

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _standardized(images: np.ndarray, rows: np.ndarray, size: int, chunk: int = 256) -> torch.Tensor:
    """``images[rows]`` downsampled (area) to size × size, flattened and z-scored, ``(len(rows), size²)``.

    Works through ``chunk`` images at a time, so only the small result is ever held as
    floats: converting a whole class at full resolution first would cost 4 bytes per pixel
    (~1.7 GB for the Kaggle Normal class at 224 px).
    """
    parts = []
    for start in range(0, len(rows), chunk):
        x = torch.from_numpy(images[rows[start : start + chunk]]).float().unsqueeze(1)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="area")
        parts.append(x.flatten(1))
    x = torch.cat(parts) if parts else torch.zeros(0, size * size)
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


def _mean_r(a: torch.Tensor, b: torch.Tensor, samples: int, gen: torch.Generator, same: bool) -> float:
    i = torch.randint(len(a), (samples,), generator=gen)
    j = torch.randint(len(b), (samples,), generator=gen)
    if same and len(a) > 1:  # never pair an image with itself
        j = torch.where(i == j, (j + 1) % len(b), j)
    return float((a[i] * b[j]).sum(dim=1).mean())


def class_statistics(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    rows: np.ndarray | None = None,
    samples: int = 1000,
    size: int = 32,
    seed: int = 0,
) -> ClassStats:
    """Estimate r_inter, σ_intra and class_im of each class from random image pairs.

    Args:
        images: ``(N, H, W)`` uint8 images.
        labels: Label of each image.
        num_classes: Number of classes.
        rows: The rows to use (the training split); all rows when ``None``.
        samples: Number S of random pairs per estimate.
        size: Side the images are downsampled to before correlating.
        seed: Seed of the pair sampling.

    Raises:
        ValueError: ``samples`` or ``size`` < 1, or a class has no rows.
    """
    if samples < 1 or size < 1:
        raise ValueError(f"stats samples and size must be positive, got {samples} and {size}.")
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows)
    counts = np.bincount(labels[rows], minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"class(es) {np.flatnonzero(counts == 0).tolist()} have no training images.")
    gen = torch.Generator().manual_seed(seed)
    per_class = [_standardized(images, rows[labels[rows] == c], size) for c in range(num_classes)]
    r_inter, nearest, sigma = [], [], []
    for c in range(num_classes):
        sigma.append(1.0 - _mean_r(per_class[c], per_class[c], samples, gen, same=True))
        between = {
            o: _mean_r(per_class[c], per_class[o], samples, gen, same=False) for o in range(num_classes) if o != c
        }
        best = max(between, key=between.get)
        r_inter.append(between[best])
        nearest.append(best)
    return ClassStats(
        r_inter=r_inter,
        sigma_intra=sigma,
        class_im=(counts / counts.max()).tolist(),
        nearest_class=nearest,
        samples=samples,
        size=size,
        seed=seed,
    )
