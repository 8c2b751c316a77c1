"""Bring a decoded image of any shape to the model's ``size`` × ``size`` input: the resize policy.

Real radiographs are not square (a 35 × 43 cm cassette is 1 : 1.23; pydicom's RG1 CR image is
1955 × 1841). Three policies, applied identically by training, evaluation, predict and export
(everything decodes through :func:`raycxr.data.read_image`):

* ``"pad"`` (the default): centre the image on a black square whose side is its longer side,
  then resize. Nothing is cut and nothing is distorted; the bars are black, like the air and
  collimation around a radiograph.
* ``"crop"``: centre-crop to a square whose side is the shorter side, then resize
  (TorchXRayVision's ``XRayCenterCrop``). Nothing is distorted, but the ends of the longer
  axis are lost (on a portrait chest film: the apices and costophrenic angles).
* ``"stretch"``: resize to the square directly, changing the aspect ratio (what raycxr did
  before the policy existed, and what a configuration recorded without ``resize`` was trained with).

Square images (the Kaggle COVID-19 Radiography Database's 299 × 299 PNGs) come out the same
under all three. When the difference is odd, the extra row or column goes to the bottom/right
(cropped away from, or padded at, the bottom/right).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from PIL import Image

Interpolation = Literal["nearest", "bilinear"]
Resize = Literal["stretch", "crop", "pad"]

RESIZE_POLICIES: tuple[str, ...] = get_args(Resize)
DEFAULT_RESIZE: Resize = "pad"
"""Keeps the whole field of view undistorted; a no-op on square images."""

LEGACY_RESIZE: Resize = "stretch"
"""The policy of a configuration recorded before ``resize`` existed (its images were stretched)."""

_PIL_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


def check_resize(resize: str, interpolation: str) -> None:
    """Raise a one-line ValueError naming the field when either setting is unknown (before any decoding)."""
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"resize: unknown policy {resize!r}; expected one of {', '.join(RESIZE_POLICIES)}.")
    if interpolation not in _PIL_RESAMPLE:
        raise ValueError(f"interpolation: unknown filter {interpolation!r}; expected one of nearest, bilinear.")


def to_square(gray: np.ndarray, resize: Resize) -> np.ndarray:
    """``gray`` (H, W) made square by ``resize``'s rule, before any resampling (``stretch``: unchanged).

    Raises:
        ValueError: ``resize`` is not one of :data:`RESIZE_POLICIES`.
    """
    check_resize(resize, "nearest")
    height, width = gray.shape
    if resize == "stretch" or height == width:
        return gray
    if resize == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return gray[top : top + side, left : left + side]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((side, side), dtype=gray.dtype)
    square[top : top + height, left : left + width] = gray
    return square


def resize_square(gray: np.ndarray, size: int, interpolation: Interpolation, resize: Resize) -> np.ndarray:
    """``gray`` as a ``size`` × ``size`` uint8 array under the policy ``resize`` (see the module docstring).

    Raises:
        ValueError: ``resize`` or ``interpolation`` is unknown.
    """
    check_resize(resize, interpolation)
    square = to_square(gray, resize)
    if square.shape != (size, size):
        resampled = Image.fromarray(np.ascontiguousarray(square)).resize((size, size), _PIL_RESAMPLE[interpolation])
        square = np.asarray(resampled)
    return np.ascontiguousarray(square, dtype=np.uint8)
