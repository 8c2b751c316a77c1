"""Predict on real CR radiographs (pydicom-data): compressed archives and non-square images.

RG1 is a 1955 × 1841 CR chest radiograph (MONOCHROME1, 15 bits), RG3 a 1760 × 1760 one (10 bits).
Lossless encodings of the same pixels must give the same probabilities, and predict must decode a
non-square file exactly as training decoded it, under the model's resize policy.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.uid import JPEGLSLossless

from raycxr.data import RESIZE_POLICIES, decode_dataset, index_csv
from raycxr.predict import decode, load_model, predict_files
from tests.data.jpeg_lossless import as_jpeg_lossless
from tests.data.test_dicom import sample_file


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """RG1's and RG3's lossless encodings: uncompressed, JPEG 2000, JPEG Lossless SV1, JPEG-LS."""
    folder = tmp_path_factory.mktemp("archive")
    files: dict[str, list[Path]] = {}
    for name in ("RG1", "RG3"):
        plain = sample_file(f"{name}_UNCR.dcm")
        as_jpeg_lossless(plain).save_as(folder / f"{name}_JPLL.dcm")
        ds = pydicom.dcmread(plain)
        ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
        ds.save_as(folder / f"{name}_JLSL.dcm")
        files[name] = [plain, sample_file(f"{name}_J2KR.dcm"), folder / f"{name}_JPLL.dcm", folder / f"{name}_JLSL.dcm"]
    return files


def test_lossless_encodings_of_a_cr_give_the_same_probabilities(
    trained_run: Path, archive: dict[str, list[Path]]
) -> None:
    loaded = load_model(trained_run)
    files = archive["RG1"] + archive["RG3"]
    result = predict_files(loaded, files, batch_size=3)
    assert not result.failures and not result.warnings and result.files == [str(f) for f in files]
    for group in (result.probabilities[:4], result.probabilities[4:]):
        assert all(np.array_equal(group[0], row) for row in group[1:])
    assert not np.array_equal(result.probabilities[0], result.probabilities[4])  # two different radiographs


@pytest.mark.parametrize("resize", RESIZE_POLICIES)
def test_predict_decodes_a_non_square_cr_as_training_did(trained_run: Path, tmp_path: Path, resize: str) -> None:
    rg1 = sample_file("RG1_UNCR.dcm")
    trained = load_model(trained_run)
    assert trained.resize == trained.config.resize == "pad"  # the configuration's default, read back
    cfg = trained.config.model_copy(update={"resize": resize})
    loaded = dataclasses.replace(trained, config=cfg)
    csv = tmp_path / "index.csv"
    csv.write_text(f"path,label\n{rg1},Normal\n{rg1},COVID\n")
    training = decode_dataset(index_csv(csv), cfg.image_size, cfg.interpolation, tmp_path / "c", resize=cfg.resize)
    image, reason, notes = decode(rg1, loaded.image_size, loaded.interpolation, resize=loaded.resize)
    assert reason is None and not notes
    assert image.shape == (32, 32) and np.array_equal(image, training.images[0])


def test_a_model_recorded_before_the_resize_setting_predicts_stretched(trained_run: Path, tmp_path: Path) -> None:
    old = Path(shutil.copytree(trained_run, tmp_path / "old"))
    checkpoint = torch.load(old / "best.pt", weights_only=True)
    del checkpoint["config"]["resize"]
    torch.save(checkpoint, old / "best.pt")
    assert load_model(old).resize == "stretch"  # what raycxr did when it was trained
