from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from raycxr.data import read_image

GRADIENT = np.tile(np.arange(64, dtype=np.uint16) * 64, (64, 1))  # 12-bit values, 0..4032


def write_dicom(path: Path, pixels: np.ndarray, photometric: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.set_pixel_data(pixels, photometric_interpretation=photometric, bits_stored=12)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_8bit_png_keeps_values(tmp_path: Path) -> None:
    pixels = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png", 64), pixels)


def test_16bit_png_is_stretched(tmp_path: Path) -> None:
    Image.fromarray(GRADIENT).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    out = read_image(tmp_path / "a.png", 64)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) > 0)


def test_rgb_jpeg_becomes_gray_and_resized(tmp_path: Path) -> None:
    rgb = np.zeros((80, 100, 3), dtype=np.uint8)
    rgb[..., :] = (200, 200, 200)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg", 48, "bilinear")
    assert out.shape == (48, 48) and abs(int(out.mean()) - 200) <= 2


@pytest.mark.parametrize(("photometric", "bright_right"), [("MONOCHROME2", True), ("MONOCHROME1", False)])
def test_dicom_monochrome1_is_inverted(tmp_path: Path, photometric: str, bright_right: bool) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT, photometric)
    assert pydicom.dcmread(path).PhotometricInterpretation == photometric
    out = read_image(path, 64)
    assert (out[0, -1] > out[0, 0]) == bright_right
    assert {int(out.min()), int(out.max())} == {0, 255}


def test_corrupt_file_raises(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(OSError):
        read_image(tmp_path / "bad.png", 64)
