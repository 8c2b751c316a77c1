"""Saliency maps drawn on their images (pytorch-grad-cam's ``show_cam_on_image``) and saved as PNGs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def overlay(image: np.ndarray, saliency: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """``(H, W, 3)`` RGB uint8: the grayscale uint8 ``(H, W)`` image under a jet heat map of
    ``saliency`` (``(H, W)`` in [0, 1]; red = most evidence), blended with ``image_weight``.

    Raises:
        ValueError: Shapes differ, or the image is not 2-D uint8.
    """
    import cv2
    from pytorch_grad_cam.utils.image import show_cam_on_image

    image = np.asarray(image)
    saliency = np.asarray(saliency, dtype=np.float32)
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"image must be uint8 (H, W), got {image.dtype} {image.shape}.")
    if saliency.shape != image.shape:
        raise ValueError(f"saliency shape {saliency.shape} differs from the image's {image.shape}.")
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32) / 255.0
    return show_cam_on_image(rgb, np.clip(saliency, 0.0, 1.0), use_rgb=True, colormap=cv2.COLORMAP_JET,
                             image_weight=image_weight)  # fmt: skip


def safe_name(name: str) -> str:
    """``name`` as a file stem: characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return stem or "image"


def write_overlays(
    directory: str | Path, names: Sequence[str], images: np.ndarray, maps: np.ndarray, image_weight: float = 0.5
) -> list[Path]:
    """One ``<name>.png`` overlay (:func:`overlay`) per image in ``directory`` (created); returns the paths.

    Names are made file-safe (:func:`safe_name`).

    Raises:
        ValueError: Lengths differ, or two names give the same file.
    """
    if not len(names) == len(images) == len(maps):
        raise ValueError(f"names, images and maps must have one entry each, got {len(names)}, {len(images)}, "
                         f"{len(maps)}.")  # fmt: skip
    stems = [safe_name(n) for n in names]
    if len(set(stems)) != len(stems):
        raise ValueError("names must give distinct file names.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, image, saliency in zip(stems, images, maps):
        path = directory / f"{stem}.png"
        Image.fromarray(overlay(np.asarray(image), saliency, image_weight)).save(path)
        paths.append(path)
    return paths
