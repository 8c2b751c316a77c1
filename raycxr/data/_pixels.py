"""What the raster and DICOM readers share: 8-bit scaling, one-line errors, the modality warning.

Its own module so that :mod:`raycxr.data._io` (which dispatches to the DICOM reader) and
:mod:`raycxr.data._dicom` both import it and not each other.
"""

from __future__ import annotations

import numpy as np


class ModalityWarning(UserWarning):
    """A DICOM file whose Modality is not a radiograph's (CR, DX) was read anyway."""


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Stretch a high-bit-depth image to 0..255 by its own min and max.

    16-bit radiographs rarely use the full 16 bits (12 is common), so a fixed divisor
    would leave them nearly black.
    """
    pixels = pixels.astype(np.float32)
    low, high = float(pixels.min()), float(pixels.max())
    if high <= low:
        return np.zeros(pixels.shape, dtype=np.uint8)
    return np.round((pixels - low) * (255.0 / (high - low))).astype(np.uint8)


def one_line(error: BaseException) -> str:
    """An exception's message on one line (pydicom's span several)."""
    return " ".join(str(error).split()) or type(error).__name__
