"""Checks of an input file that need no model: is it plausibly a chest radiograph at all?

Each check reads only what it needs (a DICOM header without pixel data, a PNG/JPEG header;
pixels only of colour images) and gives a short reason when the file is not like a chest
radiograph:

* DICOM **Modality** present and not a radiograph's (``CR``, ``DX``): ``modality MR``;
* DICOM **Body Part Examined** present and not the chest: ``body part HEAD``;
* **colour**: an RGB/palette/YBR image whose pixels really are coloured (at least 5 % of its
  pixels with a channel spread above 24 of 255; a grey radiograph saved as RGB passes);
* **aspect ratio**: the longer side more than twice the shorter (chest radiographs are
  about 1:1 to 1:1.4; ultrasound sectors, panoramic and scanned strips are wider).

A file these checks cannot read gets no reason: the decoder reports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from raycxr.data import is_dicom

#: DICOM modalities of radiographs (``raycxr.data`` reads others with a ``ModalityWarning``).
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
#: Body Part Examined values of a chest image (DICOM PS3.16 CID 4031 and common variants).
CHEST_BODY_PARTS = frozenset({"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_LAT", "CHEST_PA", "CHEST_AP"})
#: Longest side / shortest side above which an image is not a chest radiograph.
MAX_ASPECT_RATIO = 2.0
#: A pixel is coloured when its channels spread by more than this (of 255) …
COLOUR_SPREAD = 24
#: … and an image is in colour when more than this fraction of its pixels are.
COLOUR_FRACTION = 0.05
_THUMBNAIL = 256  # colour is judged on a thumbnail of at most this size


def input_reasons(path: str | Path) -> list[str]:
    """Why ``path`` does not look like a chest radiograph (empty: nothing found, or unreadable)."""
    path = Path(path)
    try:
        return _dicom_reasons(path) if is_dicom(path) else _raster_reasons(path)
    except Exception:  # noqa: BLE001  (an unreadable file is the decoder's to report, in its own words)
        return []


def colour_fraction(rgb: np.ndarray) -> float:
    """Fraction of the pixels of an ``(H, W, 3)`` image whose channels spread by more than :data:`COLOUR_SPREAD`."""
    pixels = np.asarray(rgb, dtype=np.int16)[..., :3]
    spread = pixels.max(axis=-1) - pixels.min(axis=-1)
    return float(np.mean(spread > COLOUR_SPREAD)) if spread.size else 0.0


def _shape_reasons(width: int, height: int) -> list[str]:
    if min(width, height) < 1:
        return []
    ratio = max(width, height) / min(width, height)
    return [f"aspect ratio {ratio:.2g}:1"] if ratio > MAX_ASPECT_RATIO else []


def _colour_reason(rgb: np.ndarray) -> list[str]:
    fraction = colour_fraction(rgb)
    return [f"colour ({100 * fraction:.0f} % of pixels)"] if fraction > COLOUR_FRACTION else []


def _raster_reasons(path: Path) -> list[str]:
    with Image.open(path) as image:
        reasons = _shape_reasons(*image.size)
        if image.mode in ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            image.draft("RGB", (_THUMBNAIL, _THUMBNAIL))  # JPEG: decode at a reduced scale
            rgb = image.convert("RGB")
            rgb.thumbnail((_THUMBNAIL, _THUMBNAIL))
            reasons += _colour_reason(np.asarray(rgb))
    return reasons


def _dicom_reasons(path: Path) -> list[str]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    reasons = []
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        reasons.append(f"modality {modality}")
    body_part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    if body_part and body_part not in CHEST_BODY_PARTS:
        reasons.append(f"body part {body_part}")
    reasons += _shape_reasons(int(ds.get("Columns", 0) or 0), int(ds.get("Rows", 0) or 0))
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3 or photometric == "PALETTE COLOR":
        reasons += _dicom_colour(path, photometric)
    return reasons


def _dicom_colour(path: Path, photometric: str) -> list[str]:
    """The colour check on the first frame of a colour DICOM (pixels read only for these)."""
    import pydicom
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(path, force=True)
    frame = pydicom.pixels.pixel_array(ds, index=0)  # YBR arrives as RGB
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        return []
    if frame.dtype != np.uint8:  # 16-bit palette entries or samples: to 0..255
        frame = np.round(frame.astype(np.float64) * (255.0 / max(float(frame.max()), 1.0)))
    return _colour_reason(frame[:: max(1, frame.shape[0] // _THUMBNAIL), :: max(1, frame.shape[1] // _THUMBNAIL)])
