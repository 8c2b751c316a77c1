from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from raycxr.data import read_gray, read_image

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
    with Image.open(tmp_path / "a.png") as image:
        assert image.mode.startswith("I")
    out = read_image(tmp_path / "a.png", 64)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) > 0)


def test_rgb_jpeg_becomes_gray_and_resized(tmp_path: Path) -> None:
    rgb = np.zeros((80, 100, 3), dtype=np.uint8)
    rgb[..., :] = (200, 200, 200)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg", 48, "bilinear", "crop")  # not "pad": no black bars in the mean
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
    with pytest.raises(OSError, match=r"bad\.png: cannot read it as a PNG or JPEG image"):
        read_image(tmp_path / "bad.png", 64)


def test_read_gray_keeps_the_native_size(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(30, 50), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = read_gray(tmp_path / "a.png")
    assert out.shape == (30, 50) and out.dtype == np.uint8 and np.array_equal(out, pixels)
    assert read_image(tmp_path / "a.png", 16).shape == (16, 16)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "1"])
def test_colour_and_other_8bit_modes_read_as_pil_luminance(tmp_path: Path, mode: str) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    image = Image.fromarray(rgb).convert(mode)
    image.save(tmp_path / "a.png")
    assert np.array_equal(read_gray(tmp_path / "a.png"), np.asarray(image.convert("L")))


def test_16bit_png_min_max_ignores_the_offset(tmp_path: Path) -> None:
    Image.fromarray(GRADIENT).save(tmp_path / "a.png")
    Image.fromarray(GRADIENT + 5000).save(tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as image:
        assert image.mode.startswith("I;16")
    assert np.array_equal(read_gray(tmp_path / "a.png"), read_gray(tmp_path / "b.png"))


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95, exif=exif)
    out = read_gray(tmp_path / "a.jpg")
    assert out.shape == (40, 20)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # the white half is now on top


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(64, 64), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match=r"cut\.png: cannot read it as a PNG or JPEG image") as caught:
        read_gray(tmp_path / "cut.png")
    assert type(caught.value) is OSError and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["empty.png", "empty.dcm", "empty"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{name}: the file is empty \(expected a PNG, JPEG or DICOM image\)"):
        read_gray(tmp_path / name)


@pytest.mark.parametrize(("name", "error", "expected"), [("junk.dcm", ValueError, "DICOM"), ("junk", OSError, "DICOM")])
def test_random_bytes(tmp_path: Path, name: str, error: type[Exception], expected: str) -> None:
    (tmp_path / name).write_bytes(np.random.default_rng(3).bytes(3000))
    with pytest.raises(error) as caught:
        read_gray(tmp_path / name)
    assert type(caught.value) is error
    assert str(caught.value).startswith(f"{tmp_path / name}: ") and expected in str(caught.value)
