"""A minimal JPEG Lossless (ITU-T T.81 Annex H, Process 14, Selection Value 1) encoder for the tests.

No pip-installable package encodes this transfer syntax (pydicom encodes RLE, JPEG-LS and JPEG 2000;
pylibjpeg-libjpeg only decodes), yet it is what most CR/DX archives hold. So the tests write their own:
one grayscale component, predictor 1 (the sample to the left), point transform 0, and one Huffman table
giving every difference category 0..16 a 5-bit code (valid, if not compact). The decoder under test
(pylibjpeg-libjpeg) is independent of this code: a wrong encoder cannot decode to the original pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1

_CODE_BITS = 5  # 17 categories (0..16), codes 0..16 of 5 bits each


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _differences(pixels: np.ndarray, precision: int) -> np.ndarray:
    """Prediction differences (H.1.2.1), modulo 2^16 as signed values, row-major."""
    x = pixels.astype(np.int64)
    prediction = np.empty_like(x)
    prediction[:, 1:] = x[:, :-1]  # Ra, predictor 1
    prediction[1:, 0] = x[:-1, 0]  # first column: Rb
    prediction[0, 0] = 1 << (precision - 1)
    return ((x - prediction + 32768) % 65536 - 32768).ravel()


def _entropy_coded(diff: np.ndarray) -> bytes:
    magnitude = np.abs(diff)
    category = np.zeros(diff.shape, dtype=np.int64)
    nonzero = magnitude > 0
    category[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.int64) + 1
    category[diff == -32768] = 16  # SSSS 16 has no additional bits
    extra = np.where(diff < 0, diff + (1 << category) - 1, diff)
    extra[category == 16] = 0
    extra_bits = np.where(category == 16, 0, category)
    lengths = _CODE_BITS + extra_bits
    words = (category << extra_bits) | extra  # the Huffman code (= the category) then the extra bits
    chunks = []
    step = 1 << 18  # bounded memory: one byte per bit while packing
    for start in range(0, len(words), step):
        w, n = words[start : start + step], lengths[start : start + step]
        ends = np.cumsum(n)
        position = np.arange(int(ends[-1])) - np.repeat(ends - n, n)
        shift = np.repeat(n, n) - 1 - position
        chunks.append(((np.repeat(w, n) >> shift) & 1).astype(np.uint8))
    bits = np.concatenate(chunks)
    bits = np.concatenate([bits, np.ones(-len(bits) % 8, dtype=np.uint8)])  # pad with 1-bits
    data = np.packbits(bits)
    stuffed = np.insert(data, np.flatnonzero(data == 0xFF) + 1, 0)  # byte stuffing
    return stuffed.tobytes()


def encode(pixels: np.ndarray, precision: int) -> bytes:
    """One JPEG Lossless SV1 codestream of a (H, W) unsigned image whose values fit ``precision`` bits."""
    height, width = pixels.shape
    if pixels.min() < 0 or int(pixels.max()) >= 1 << precision:
        raise ValueError(f"pixels do not fit {precision} bits")
    frame = _segment(0xFFC3, struct.pack(">BHHB", precision, height, width, 1) + bytes([1, 0x11, 0]))
    counts = [0] * 16
    counts[_CODE_BITS - 1] = 17
    table = _segment(0xFFC4, bytes([0x00, *counts, *range(17)]))
    scan = _segment(0xFFDA, bytes([1, 1, 0x00, 1, 0, 0]))  # Ss=1: predictor 1; Se=0; Ah/Al=0
    return b"\xff\xd8" + frame + table + scan + _entropy_coded(_differences(pixels, precision)) + b"\xff\xd9"


def as_jpeg_lossless(path: str | Path) -> Dataset:
    """The single-frame, unsigned, monochrome DICOM file ``path`` with its pixel data in JPEG Lossless SV1."""
    out = pydicom.dcmread(path)
    pixels = out.pixel_array
    out.PixelData = encapsulate([encode(pixels, int(out.BitsStored))])
    out["PixelData"].VR = "OB"
    out.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return out
