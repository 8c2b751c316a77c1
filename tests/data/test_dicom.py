"""DICOM reading: Modality LUT, VOI LUT / windowing, MONOCHROME1, compression, colour, odd files."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space, get_decoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    MPEG4HP41,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from raycxr.data import ModalityWarning, is_dicom, read_gray, read_image
from tests.data.jpeg_lossless import as_jpeg_lossless

RNG = np.random.default_rng(0)
PIXELS_12 = RNG.integers(200, 3900, size=(40, 48), dtype=np.uint16)  # 12-bit values, not the full range
PIXELS_12[0, :2] = (200, 3899)


def make_dicom(
    pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12, **elements: object
) -> FileDataset:
    """A DX image in Explicit VR Little Endian; ``elements`` are set on the data set (Modality='DX' by default)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("mem", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.set_pixel_data(pixels, photometric_interpretation=photometric, bits_stored=bits_stored)
    for keyword, value in elements.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2", **kwargs: object) -> Path:
    return save(make_dicom(pixels, photometric, **kwargs), path)


def linear_window(x: float, center: float, width: float) -> int:
    """PS3.3 C.11.2.1.2.1 (LINEAR) with an output range of 0..255, rounded."""
    if x <= center - 0.5 - (width - 1) / 2:
        return 0
    if x > center - 0.5 + (width - 1) / 2:
        return 255
    return round(((x - (center - 0.5)) / (width - 1) + 0.5) * 255)


# --- same pixels, same result ---------------------------------------------------------------


@pytest.mark.parametrize("bits_stored", [8, 12, 16])
def test_png_and_monochrome2_dicom_read_the_same(tmp_path: Path, bits_stored: int) -> None:
    high = 2**bits_stored
    pixels = RNG.integers(high // 16, high - high // 16, size=(40, 48)).astype(
        np.uint8 if bits_stored == 8 else np.uint16
    )
    Image.fromarray(pixels).save(tmp_path / "a.png")
    write_dicom(tmp_path / "a.dcm", pixels, bits_stored=bits_stored)
    from_png, from_dicom = read_gray(tmp_path / "a.png"), read_gray(tmp_path / "a.dcm")
    assert from_dicom.shape == (40, 48) and from_dicom.dtype == np.uint8
    assert np.array_equal(from_png, from_dicom)
    if bits_stored == 8:
        assert np.array_equal(from_dicom, pixels)  # 8 bits are display-ready, as an 8-bit PNG
    else:
        assert (int(from_dicom.min()), int(from_dicom.max())) == (0, 255)  # min-max


@pytest.mark.parametrize("bits_stored", [12, 16])
def test_monochrome1_of_inverted_values_reads_as_monochrome2(tmp_path: Path, bits_stored: int) -> None:
    top = 2**bits_stored - 1
    pixels = RNG.integers(0, top + 1, size=(40, 48)).astype(np.uint16)
    pixels[0, :2] = (0, top)
    mono2 = read_gray(write_dicom(tmp_path / "2.dcm", pixels, bits_stored=bits_stored))
    mono1 = read_gray(write_dicom(tmp_path / "1.dcm", top - pixels, "MONOCHROME1", bits_stored=bits_stored))
    assert np.array_equal(mono1, mono2)


def test_monochrome1_is_inverted_after_windowing(tmp_path: Path) -> None:
    window = {"WindowCenter": 1500, "WindowWidth": 1200}
    mono2 = read_gray(write_dicom(tmp_path / "2.dcm", PIXELS_12, **window))
    mono1 = read_gray(write_dicom(tmp_path / "1.dcm", PIXELS_12, "MONOCHROME1", **window))
    assert np.array_equal(mono1, 255 - mono2)
    assert mono2[0, 0] == 0 and mono1[0, 0] == 255  # 200 is below the window: black, or white in MONOCHROME1


def test_multiframe_reads_the_first_frame(tmp_path: Path) -> None:
    frames = np.stack([PIXELS_12, 4095 - PIXELS_12, PIXELS_12 // 2])
    multi = read_gray(write_dicom(tmp_path / "multi.dcm", frames))
    assert pydicom.dcmread(tmp_path / "multi.dcm").NumberOfFrames == 3
    assert np.array_equal(multi, read_gray(write_dicom(tmp_path / "one.dcm", PIXELS_12)))


# --- windowing, VOI LUT, rescale --------------------------------------------------------------

WINDOW_PIXELS = np.array([[0, 1536, 1537, 1540, 1800], [2048, 2300, 2559, 2560, 4095]], dtype=np.uint16)


def test_window_clips_and_scales_as_ps33(tmp_path: Path) -> None:
    out = read_gray(write_dicom(tmp_path / "w.dcm", WINDOW_PIXELS, WindowCenter=2048, WindowWidth=1024))
    # Worked by hand from C.11.2.1.2.1 with c = 2048, w = 1024: x <= 1536 -> 0, x > 2559 -> 255,
    # else ((x - 2047.5) / 1023 + 0.5) * 255: 1537 -> 0.25, 1540 -> 0.997, 1800 -> 65.8, 2048 -> 127.6,
    # 2300 -> 190.4, 2559 -> 255.
    assert out.tolist() == [[0, 0, 0, 1, 66], [128, 190, 255, 255, 255]]
    expected = [[linear_window(x, 2048, 1024) for x in row] for row in WINDOW_PIXELS.tolist()]
    assert out.tolist() == expected


def test_the_first_of_several_windows_is_used(tmp_path: Path) -> None:
    single = read_gray(write_dicom(tmp_path / "1.dcm", WINDOW_PIXELS, WindowCenter=2048, WindowWidth=1024))
    several = read_gray(
        write_dicom(tmp_path / "2.dcm", WINDOW_PIXELS, WindowCenter=[2048, 1000], WindowWidth=[1024, 200])
    )
    assert np.array_equal(single, several)


def test_rescale_intercept_changes_the_windowed_result_not_the_min_max_one(tmp_path: Path) -> None:
    plain = read_gray(write_dicom(tmp_path / "a.dcm", PIXELS_12))
    shifted = read_gray(write_dicom(tmp_path / "b.dcm", PIXELS_12, RescaleSlope=1, RescaleIntercept=-1024))
    assert np.array_equal(plain, shifted)

    window = {"WindowCenter": 2048, "WindowWidth": 1024}
    windowed = read_gray(write_dicom(tmp_path / "c.dcm", WINDOW_PIXELS, **window))
    windowed_shifted = read_gray(
        write_dicom(tmp_path / "d.dcm", WINDOW_PIXELS, RescaleSlope=1, RescaleIntercept=-1024, **window)
    )
    assert not np.array_equal(windowed, windowed_shifted)
    # The window applies to the rescaled values x - 1024 (only 2559 and 4095 reach 1535 and 3071).
    expected = [[linear_window(x - 1024, 2048, 1024) for x in row] for row in WINDOW_PIXELS.tolist()]
    assert windowed_shifted.tolist() == expected
    assert expected[1][-1] == 255 and expected[1][2] == 0


def test_rescale_slope_is_applied_before_the_window(tmp_path: Path) -> None:
    stored = np.array([[500, 1024, 1150], [1200, 1524, 1800]], dtype=np.uint16)
    out = read_gray(
        write_dicom(
            tmp_path / "s.dcm", stored, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=2048, WindowWidth=1024
        )
    )
    expected = [[linear_window(2 * x - 1000, 2048, 1024) for x in row] for row in stored.tolist()]
    assert out.tolist() == expected
    assert out[1, 1] == 128  # 2 * 1524 - 1000 = 2048, the centre


def test_voi_lut_sequence_is_preferred_to_the_window(tmp_path: Path) -> None:
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 1000, 16])  # LUT Descriptor: 256 entries, first maps 1000, 16 bits
    item.add_new(0x00283006, "US", [100 * i for i in range(256)])  # LUT Data: 0..25500
    ds = make_dicom(
        np.array([[0, 999, 1000, 1100], [1204, 1255, 1300, 4095]], dtype=np.uint16), WindowCenter=50, WindowWidth=10
    )
    ds.VOILUTSequence = [item]
    out = read_gray(save(ds, tmp_path / "lut.dcm"))
    # Below the first mapped value -> entry 0 (0); x -> entry x - 1000 = 100 * (x - 1000), of 0..25500 -> 0..255.
    assert out.tolist() == [[0, 0, 0, 100], [204, 255, 255, 255]]


# --- compression --------------------------------------------------------------------------------


@pytest.mark.parametrize("bits_stored", [12, 16])
def test_rle_lossless_decodes(tmp_path: Path, bits_stored: int) -> None:
    pixels = PIXELS_12 if bits_stored == 12 else PIXELS_12 * 16
    ds = make_dicom(pixels, bits_stored=bits_stored, WindowCenter=1500 * 16 ** (bits_stored == 16), WindowWidth=2000)
    plain = read_gray(save(ds, tmp_path / "plain.dcm"))
    ds.compress(RLELossless)
    save(ds, tmp_path / "rle.dcm")
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(read_gray(tmp_path / "rle.dcm"), plain)


def _compressed_without_decoding(path: Path, uid: str) -> Path:
    """Uncompressed bytes labelled with a compressed transfer syntax (and encapsulated as such)."""
    ds = make_dicom(PIXELS_12)
    ds.PixelData = encapsulate([PIXELS_12.tobytes()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid
    ds.save_as(path)
    return path


@pytest.mark.parametrize("uid", [JPEGLSLossless, JPEG2000Lossless])
def test_undecodable_compression_gives_a_one_line_error(tmp_path: Path, uid: str) -> None:
    path = _compressed_without_decoding(tmp_path / "c.dcm", uid)
    with pytest.raises(ValueError) as caught:
        read_gray(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert pydicom.uid.UID(uid).name in message and str(uid) in message
    decoder = get_decoder(pydicom.uid.UID(uid))
    for missing in decoder.missing_dependencies:  # e.g. 'gdcm - requires gdcm>=3.0.10'
        assert missing.split(" - requires ")[-1] in message
    if not decoder.is_available:
        assert "no decoder for it is installed" in message


@pytest.fixture
def no_jpegls_decoder() -> Iterator[None]:
    """JPEG-LS with every installed decoder plugin removed (pydicom's public plugin API), restored after."""
    decoder = get_decoder(JPEGLSLossless)
    removed = list(decoder.available_plugins)
    for label in removed:
        decoder.remove_plugin(label)
    yield
    for label in removed:
        decoder.add_plugin(label, (f"pydicom.pixels.decoders.{label}", "_decode_frame"))


def test_a_syntax_whose_decoder_is_not_installed_names_the_file_syntax_and_packages(
    tmp_path: Path, no_jpegls_decoder: None
) -> None:
    path = _compressed_without_decoding(tmp_path / "c.dcm", JPEGLSLossless)
    with pytest.raises(ValueError) as caught:
        read_gray(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: cannot decode ")
    assert re.search(r"JPEG-LS Lossless Image Compression.*1\.2\.840\.10008\.1\.2\.4\.80.*no decoder", message)
    assert "install gdcm" in message


@pytest.mark.parametrize("uid", [MPEG4HP41, JPEG2000MCLossless])
def test_a_syntax_pydicom_cannot_decode_names_the_file_and_syntax(tmp_path: Path, uid: str) -> None:
    path = _compressed_without_decoding(tmp_path / "video.dcm", uid)
    with pytest.raises(ValueError) as caught:
        read_gray(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: pydicom has no pixel data decoder")
    assert f"'{pydicom.uid.UID(uid).name}' ({uid})" in message


# --- colour ---------------------------------------------------------------------------------------


def test_rgb_and_ybr_dicom_read_as_the_rgb_png(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    from_png = read_gray(tmp_path / "a.png")
    assert np.array_equal(read_gray(write_dicom(tmp_path / "rgb.dcm", rgb, "RGB", bits_stored=8)), from_png)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    from_ybr = read_gray(write_dicom(tmp_path / "ybr.dcm", ybr, "YBR_FULL", bits_stored=8))
    assert np.abs(from_ybr.astype(int) - from_png.astype(int)).max() <= 2  # YCbCr round trip rounding


# --- modality, recognition, odd files -------------------------------------------------------------


def test_ct_modality_warns_but_reads(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "ct.dcm", PIXELS_12, Modality="CT")
    with pytest.warns(ModalityWarning, match=r"ct\.dcm.*'CT'"):
        out = read_gray(path)
    assert out.shape == PIXELS_12.shape


@pytest.mark.parametrize("modality", ["CR", "DX", None])
def test_radiograph_modalities_do_not_warn(tmp_path: Path, modality: str | None) -> None:
    path = write_dicom(tmp_path / "x.dcm", PIXELS_12, Modality=modality)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_gray(path)


def test_dicom_without_suffix_is_recognised_by_its_magic(tmp_path: Path) -> None:
    reference = read_gray(write_dicom(tmp_path / "a.dcm", PIXELS_12))
    bare = tmp_path / "IM000001"
    bare.write_bytes((tmp_path / "a.dcm").read_bytes())
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "IM000002", format="PNG")
    assert is_dicom(bare) and not is_dicom(tmp_path / "IM000002")
    assert np.array_equal(read_gray(bare), reference)
    assert read_image(bare, 32).shape == (32, 32)


def test_dicom_data_set_without_preamble_named_dcm_reads(tmp_path: Path) -> None:
    ds = make_dicom(PIXELS_12)
    reference = read_gray(save(ds, tmp_path / "a.dcm"))
    pydicom.dcmwrite(tmp_path / "bare.dcm", Dataset(ds), implicit_vr=True, little_endian=True)
    assert (tmp_path / "bare.dcm").read_bytes()[128:132] != b"DICM"
    assert np.array_equal(read_gray(tmp_path / "bare.dcm"), reference)


def test_missing_pixel_data_names_the_file(tmp_path: Path) -> None:
    ds = make_dicom(PIXELS_12)
    del ds.PixelData
    path = save(ds, tmp_path / "nopix.dcm")
    with pytest.raises(ValueError, match=r"nopix\.dcm: the DICOM file has no pixel data"):
        read_gray(path)


def test_truncated_dicom_names_the_file(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "cut.dcm", PIXELS_12)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ValueError, match=r"cut\.dcm: ") as caught:
        read_gray(path)
    assert "\n" not in str(caught.value)


def test_random_bytes_named_dcm(tmp_path: Path) -> None:
    path = tmp_path / "junk.dcm"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(ValueError, match=r"junk\.dcm: ") as caught:
        read_gray(path)
    assert "DICOM" in str(caught.value)


# --- real files: pydicom-data (the test extra) -------------------------------------------------------


def sample_file(name: str) -> Path:
    """A file of pydicom's or pydicom-data's test files, never downloaded."""
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.fail(f"{name} needs the pydicom-data package: pip install -e '.[test]'")
    return Path(found)


@pytest.fixture(scope="module")
def cr_variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """RG1 and RG3 (CR chest, MONOCHROME1) uncompressed, and re-encoded in JPEG Lossless SV1 and JPEG-LS here."""
    folder = tmp_path_factory.mktemp("cr")
    files = {}
    for name in ("RG1", "RG3"):
        plain = sample_file(f"{name}_UNCR.dcm")
        files[f"{name}_UNCR"], files[f"{name}_J2KR"] = plain, sample_file(f"{name}_J2KR.dcm")
        files[f"{name}_JPLL"] = folder / f"{name}_JPLL.dcm"
        as_jpeg_lossless(plain).save_as(files[f"{name}_JPLL"])
        ds = pydicom.dcmread(plain)
        ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
        files[f"{name}_JLSL"] = folder / f"{name}_JLSL.dcm"
        ds.save_as(files[f"{name}_JLSL"])
    return files


#: What the project's dependencies decode (README, "DICOM archives"): each by pylibjpeg, so not
#: by a package only the tests install (pyjpegls) nor by Pillow alone.
PYLIBJPEG_SYNTAXES = [
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    HTJ2K,
    RLELossless,
]


@pytest.mark.parametrize("uid", PYLIBJPEG_SYNTAXES, ids=lambda uid: pydicom.uid.UID(uid).name)
def test_the_dependencies_decode_the_compressed_syntaxes(uid: str) -> None:
    assert "pylibjpeg" in get_decoder(pydicom.uid.UID(uid)).available_plugins


@pytest.mark.parametrize("name", ["RG1", "RG3"])
def test_real_cr_chest_radiographs_are_read_with_monochrome1_inverted(tmp_path: Path, name: str) -> None:
    path = sample_file(f"{name}_UNCR.dcm")
    ds = pydicom.dcmread(path)
    assert (ds.Modality, ds.PhotometricInterpretation) == ("CR", "MONOCHROME1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CR reads without a warning
        out = read_gray(path)
    assert out.shape == (ds.Rows, ds.Columns) and out.dtype == np.uint8 and int(out.max()) - int(out.min()) > 200
    ds.PhotometricInterpretation = "MONOCHROME2"
    assert np.array_equal(read_gray(save(ds, tmp_path / "m2.dcm")), 255 - out)
    # MONOCHROME1: the lowest stored values are the brightest displayed.
    stored = ds.pixel_array
    assert out[stored == stored.min()].mean() > out[stored == stored.max()].mean()


@pytest.mark.parametrize("name", ["RG1", "RG3"])
@pytest.mark.parametrize("variant", ["J2KR", "JPLL", "JLSL"])
def test_lossless_cr_files_read_as_their_uncompressed_twin(
    cr_variants: dict[str, Path], name: str, variant: str
) -> None:
    compressed = cr_variants[f"{name}_{variant}"]
    uid = pydicom.dcmread(compressed, stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert uid == {"J2KR": JPEG2000Lossless, "JPLL": JPEGLosslessSV1, "JLSL": JPEGLSLossless}[variant]
    assert np.array_equal(read_gray(compressed), read_gray(cr_variants[f"{name}_UNCR"]))


@pytest.mark.filterwarnings("ignore::raycxr.data.ModalityWarning")  # MR, US, CT, OT: other modalities
@pytest.mark.parametrize(
    ("reference", "compressed"),
    [
        ("RG1_UNCI.dcm", "RG1_J2KI.dcm"),  # lossy JPEG 2000 and its reference decompression
        ("RG3_UNCI.dcm", "RG3_J2KI.dcm"),
        ("MR2_UNCR.dcm", "MR2_J2KR.dcm"),
        ("693_UNCR.dcm", "693_J2KR.dcm"),
        ("US1_UNCR.dcm", "US1_J2KR.dcm"),  # colour, reversible colour transform
        ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
        ("emri_small.dcm", "emri_small_RLE.dcm"),
        ("SC_rgb.dcm", "SC_rgb_jpeg_gdcm.dcm"),  # JPEG Baseline, RGB
    ],
)
def test_real_compressed_files_read_as_their_reference(reference: str, compressed: str) -> None:
    assert np.array_equal(read_gray(sample_file(compressed)), read_gray(sample_file(reference)))


@pytest.mark.filterwarnings("ignore::raycxr.data.ModalityWarning")
@pytest.mark.parametrize(
    ("name", "uid", "shape"),
    [
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", JPEGLosslessSV1, (768, 1024)),
        ("JPEG-LL.dcm", JPEGLosslessSV1, (1024, 256)),
        ("JPEGLSNearLossless_16.dcm", JPEGLSNearLossless, (50, 10)),
        ("JPGExtended.dcm", JPEGExtended12Bit, (1024, 256)),
        ("image_dfl.dcm", DeflatedExplicitVRLittleEndian, (512, 512)),
    ],
)
def test_real_jpeg_lossless_jpeg_ls_and_other_files_decode(name: str, uid: str, shape: tuple[int, int]) -> None:
    path = sample_file(name)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == uid
    out = read_gray(path)
    assert out.shape == shape and out.dtype == np.uint8 and out.min() < out.max()


def test_a_real_file_no_installed_decoder_reads_is_one_line_naming_file_and_syntax() -> None:
    # JPEG-lossy.dcm: 12-bit JPEG Extended whose scan header libjpeg rejects and Pillow cannot do.
    path = sample_file("JPEG-lossy.dcm")
    with pytest.raises(ValueError) as caught:
        read_gray(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: cannot decode the pixel data")
    assert f"'JPEG Extended (Process 2 and 4)' ({JPEGExtended12Bit})" in message and "install gdcm" in message
