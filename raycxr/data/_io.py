"""Read one radiograph from disk into a square 8-bit grayscale array."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Interpolation = Literal["nearest", "bilinear"]

_PIL_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Stretch a high-bit-depth image to 0..255 by its own min and max.

    16-bit radiographs rarely use the full 16 bits (12 is common), so a fixed divisor
    would leave them nearly black.
    """
    pixels = pixels.astype(np.float32)
    low, high = float(pixels.min()), float(pixels.max())
    if high <= low:
        return np.zeros(pixels.shape, dtype=np.uint8)
    return np.round((pixels - low) * (255.0 / (high - low))).astype(np.uint8)


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    if pixels.ndim == 3:  # colour or multi-frame: take the luminance of the first frame
        pixels = pixels[..., 0] if pixels.shape[-1] in (3, 4) else pixels[0]
    gray = _to_uint8(pixels)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        gray = 255 - gray  # MONOCHROME1: low values are bright
    return gray


def _read_raster(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _to_uint8(np.asarray(image))
        return np.asarray(image.convert("L"))


def read_image(path: str | Path, size: int, interpolation: Interpolation = "nearest") -> np.ndarray:
    """Decode an image and resize it to ``size`` × ``size`` 8-bit grayscale.

    Reads 8- and 16-bit PNG and JPEG, grayscale or colour, and DICOM (MONOCHROME1 is
    inverted so that bone is bright). Images above 8 bits are stretched to 0..255.

    Raises:
        OSError, ValueError: The file cannot be read or decoded (the caller collects
            these per file).
    """
    path = Path(path)
    gray = _read_dicom(path) if path.suffix.lower() in (".dcm", ".dicom") else _read_raster(path)
    if gray.shape != (size, size):
        resized = Image.fromarray(gray).resize((size, size), _PIL_RESAMPLE[interpolation])
        gray = np.asarray(resized)
    return np.ascontiguousarray(gray, dtype=np.uint8)
