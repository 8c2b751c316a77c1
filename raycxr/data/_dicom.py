"""Decode a DICOM radiograph to the 8-bit grayscale image a viewer would display.

The pipeline follows DICOM PS3.3 C.11 for monochrome images: stored values → Modality
LUT (or Rescale Slope/Intercept) → VOI LUT or Window Center/Width (the first one when
several are given; min–max when there is none) → 0..255, and MONOCHROME1 is inverted
last so that bone is bright. Colour images (RGB, YBR, palette) become their luminance.
Only the first frame of a multi-frame image is read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, convert_color_space, get_decoder
from pydicom.pixels.decoders.base import Decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from raycxr.data._pixels import ModalityWarning, one_line, to_uint8

RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
"""Modalities read without a warning: computed and digital radiography."""

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_dicom_gray(path: Path) -> np.ndarray:
    """The first frame of a DICOM file as displayed, in 8-bit grayscale at native size.

    Raises:
        ValueError: Not a DICOM file, no pixel data, or pixel data that cannot be
            decoded (for a compressed transfer syntax with no decoder installed, the
            message names the packages that would decode it).

    Warns:
        ModalityWarning: The image was read but its Modality is present and not CR or
            DX (e.g. CT).
    """
    ds = _read_dataset(path)
    frame, photometric = _decode_first_frame(ds, path)
    gray = _to_gray(frame, photometric, ds, path)
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        warnings.warn(
            f"{path}: DICOM Modality is {modality!r}, not a radiograph (CR or DX); read it anyway.",
            ModalityWarning,
            stacklevel=3,
        )
    return gray


def _to_gray(frame: np.ndarray, photometric: str, ds: Dataset, path: Path) -> np.ndarray:
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds)
        if rgb.dtype != np.uint8:  # 16-bit palette entries span 0..65535
            rgb = np.round(rgb / 257.0).astype(np.uint8)
        return _luminance(rgb)
    if frame.ndim == 3:
        if photometric.startswith("YBR"):
            frame = convert_color_space(frame, photometric, "RGB")
        elif photometric != "RGB" or frame.shape[-1] != 3:
            raise ValueError(f"{path}: unsupported colour DICOM: Photometric Interpretation {photometric!r}.")
        return _luminance(frame)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"{path}: unsupported DICOM Photometric Interpretation {photometric!r} for one sample/pixel.")
    gray = _display(frame, ds, path)
    return 255 - gray if photometric == "MONOCHROME1" else gray


def _read_dataset(path: Path) -> Dataset:
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        # No 'DICM' marker: perhaps a bare data set (old ACR-NEMA style export) named .dcm.
        ds = pydicom.dcmread(path, force=True)
        if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
            raise ValueError(
                f"{path}: not a DICOM file (no 'DICM' marker at byte 128, and read as a bare DICOM data set "
                "it has no pixel data)."
            ) from None
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        sop_class = ds.get("SOPClassUID")
        kind = f" (SOP class {UID(str(sop_class)).name})" if sop_class else ""
        raise ValueError(f"{path}: the DICOM file has no pixel data{kind}: not an image, or cut short.")
    if not ds.file_meta.get("TransferSyntaxUID"):
        implicit, little = ds.original_encoding
        if little is False:
            ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        else:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ds


def _transfer_syntax(uid: UID) -> str:
    name = uid.name if uid.name != str(uid) else "unknown"
    return f"transfer syntax '{name}' ({uid})"


def _packages(decoder: Decoder) -> str:
    """What to install for ``decoder``, from pydicom's 'plugin - requires X' lines."""
    needs = [line.split(" - requires ", 1)[-1] for line in decoder.missing_dependencies]
    return ", or ".join(needs)


def _decode_first_frame(ds: Dataset, path: Path) -> tuple[np.ndarray, str]:
    """The first frame's stored values and the Photometric Interpretation they are in."""
    uid = UID(str(ds.file_meta.TransferSyntaxUID))
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise ValueError(f"{path}: pydicom has no pixel data decoder for {_transfer_syntax(uid)}.") from None
    if not decoder.is_available:
        raise ValueError(
            f"{path}: cannot decode {_transfer_syntax(uid)}: no decoder for it is installed; "
            f"install {_packages(decoder)}."
        )
    try:
        frame, meta = decoder.as_array(ds, index=0, as_rgb=False)
    except Exception as error:
        others = f" (other decoders: install {_packages(decoder)})" if decoder.missing_dependencies else ""
        raise ValueError(
            f"{path}: cannot decode the pixel data ({_transfer_syntax(uid)}): {one_line(error)}{others}"
        ) from error
    photometric = str(meta.get("photometric_interpretation") or ds.get("PhotometricInterpretation", "MONOCHROME2"))
    return frame, photometric.strip().upper()


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, as PIL's ``convert("L")`` (so a colour DICOM reads as its PNG twin)."""
    if rgb.dtype == np.uint8:
        return np.asarray(Image.fromarray(np.ascontiguousarray(rgb), "RGB").convert("L"))
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return to_uint8(luma)


def _display(stored: np.ndarray, ds: Dataset, path: Path) -> np.ndarray:
    """Modality LUT, then VOI LUT or window, mapped to 0..255 (before any MONOCHROME1 inversion)."""
    values = apply_modality_lut(stored, ds)
    try:
        windowed = _apply_voi(values, ds)
    except (ValueError, IndexError, KeyError, NotImplementedError, AttributeError, TypeError) as error:
        warnings.warn(
            f"{path}: ignoring its invalid VOI LUT / window ({one_line(error)}); using the min-max range.",
            stacklevel=5,
        )
        windowed = None
    if windowed is not None:
        return windowed
    identity = values is stored or np.array_equal(values, stored)
    if identity and int(ds.get("BitsStored", 16)) == 8 and values.min() >= 0 and values.max() <= 255:
        return values.astype(np.uint8)  # already display-ready 8 bits, like an 8-bit PNG
    return to_uint8(values)


def _apply_voi(values: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """The VOI LUT (preferred) or first window applied and mapped to 0..255, or None without either.

    pydicom maps a window to the output range ``y_min..y_max`` and a VOI LUT to its
    entries; that range is found by transforming the extreme inputs and is stretched to
    0..255, so the result is exactly PS3.3 C.11.2.1.2 scaled to 8 bits.
    """
    lut_item = (ds.get("VOILUTSequence") or [None])[0]
    has_lut = lut_item is not None and "LUTDescriptor" in lut_item and "LUTData" in lut_item
    has_window = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    if not (has_lut or has_window):
        return None
    if has_lut:
        if not np.issubdtype(values.dtype, np.integer):
            values = np.round(values).astype(np.int64)  # the LUT is indexed by integer values
        entries, first = int(lut_item.LUTDescriptor[0]) or 2**16, int(lut_item.LUTDescriptor[1])
        out = apply_voi_lut(values, ds, index=0)
        ends = apply_voi_lut(np.arange(first, first + entries, dtype=np.int64), ds, index=0)
        low, high = float(ends.min()), float(ends.max())
    else:
        out = apply_voi_lut(values, ds, index=0, prefer_lut=False)
        with np.errstate(over="ignore"):  # SIGMOID's exp() overflows harmlessly on the extremes
            ends = apply_voi_lut(np.array([-1e300, 1e300]), ds, index=0, prefer_lut=False)
        low, high = float(ends[0]), float(ends[1])
    if high == low:
        return np.zeros(out.shape, dtype=np.uint8)
    scaled = (out.astype(np.float64) - low) * (255.0 / (high - low))
    return np.round(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)
