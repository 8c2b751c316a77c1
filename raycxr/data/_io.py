"""Read one radiograph from disk into an 8-bit grayscale array (native size, or the model's square input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from raycxr.data._pixels import one_line, to_uint8
from raycxr.data._resize import DEFAULT_RESIZE, Interpolation, Resize, check_resize, resize_square

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})

_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
_RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def _head(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(132)


def _looks_dicom(path: Path, head: bytes) -> bool:
    if head.startswith(_RASTER_MAGIC):
        return False
    return head[128:132] == b"DICM" or path.suffix.lower() in DICOM_SUFFIXES


def is_dicom(path: str | Path) -> bool:
    """Whether :func:`read_gray` reads ``path`` as DICOM.

    True for the 'DICM' marker at byte 128 (whatever the name: PACS exports often have
    no suffix) and for a ``.dcm``/``.dicom`` file that is not a PNG or JPEG.
    """
    path = Path(path)
    return _looks_dicom(path, _head(path))


def _read_raster(path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        image = opened
        if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            image = ImageOps.exif_transpose(image)  # as a viewer shows it (photos of films)
        if image.mode in _HIGH_BIT_MODES:
            return to_uint8(np.asarray(image))
        return np.asarray(image.convert("L"))


def read_gray(path: str | Path) -> np.ndarray:
    """Decode an image to 8-bit grayscale at its native size.

    PNG and JPEG: 8-bit grayscale as stored, colour as its luminance, 16-bit (``I;16``
    modes) stretched by its min and max; an EXIF orientation is applied. DICOM (by the
    'DICM' marker or a ``.dcm``/``.dicom`` suffix): Modality LUT, then the first VOI LUT
    or window (else min–max), MONOCHROME1 inverted so that bone is bright, first frame
    only, colour as luminance; see :mod:`raycxr.data._dicom`.

    Raises:
        OSError: A PNG/JPEG (or other non-DICOM) file that cannot be read, or a missing
            file. The message starts with the path and says what was expected.
        ValueError: An empty file, or a DICOM file that cannot be read or decoded
            (message as above; for compressed pixel data without a decoder it names the
            transfer syntax and the packages that would decode it).

    Warns:
        ModalityWarning: A DICOM whose Modality is not CR or DX.
    """
    path = Path(path)
    head = _head(path)
    if not head:
        raise ValueError(f"{path}: the file is empty (expected a PNG, JPEG or DICOM image).")
    if _looks_dicom(path, head):
        from raycxr.data._dicom import read_dicom_gray  # pydicom only when a DICOM is read

        reader, error_type, expected = read_dicom_gray, ValueError, "a DICOM image"
    else:
        known = path.suffix.lower() in _RASTER_SUFFIXES
        reader, error_type = _read_raster, OSError
        expected = "a PNG or JPEG image" if known else "a PNG, JPEG or DICOM image"
    try:
        gray = reader(path)
    except MemoryError:
        raise
    except Exception as error:
        if isinstance(error, (OSError, ValueError)) and str(error).startswith(f"{path}: "):
            raise
        reason = f"{type(error).__name__}: {one_line(error)}"
        raise error_type(f"{path}: cannot read it as {expected} ({reason}).") from error
    return np.ascontiguousarray(gray, dtype=np.uint8)


def read_image(
    path: str | Path, size: int, interpolation: Interpolation = "nearest", resize: Resize = DEFAULT_RESIZE
) -> np.ndarray:
    """Decode an image (as :func:`read_gray`) and bring it to ``size`` × ``size`` by the policy ``resize``.

    ``resize`` is ``"pad"`` (centred on a black square, then resized), ``"crop"`` (centre square,
    then resized) or ``"stretch"`` (resized, aspect ratio lost); see :mod:`raycxr.data._resize`.

    Raises:
        OSError, ValueError: The file cannot be read or decoded (the caller collects
            these per file); see :func:`read_gray`.
        ValueError: ``resize`` or ``interpolation`` is unknown.
    """
    check_resize(resize, interpolation)  # before the (possibly slow) decode
    return resize_square(read_gray(path), size, interpolation, resize)
