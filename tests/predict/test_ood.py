"""Out-of-distribution flags of ``predict`` on real files, with a model trained for real.

In distribution: the model's own validation images (synthetic phantoms). Out of distribution:
files that ship with pydicom (CT, MR, ultrasound, colour secondary capture) and scikit-image
(photographs, a page of text). The model's score is the Mahalanobis distance of its penultimate
features (fitted on its training images); without it predict falls back to the logit (energy) score.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from raycxr.predict import input_reasons, load_model, predict_files
from raycxr.train import TrainConfig, prepare_data
from tests.predict.conftest import FAST, run_predict

DICOMS = {"CT_small.dcm": "modality CT", "MR_small.dcm": "modality MR", "US1_UNCR.dcm": "modality US",
          "SC_rgb.dcm": "colour"}  # fmt: skip


def _validation_files(tiny_dataset: Path) -> list[Path]:
    cfg = TrainConfig(data=tiny_dataset, **FAST)
    data = prepare_data(cfg)
    return [data.index.paths[r] for r in data.splits[cfg.fold].val]


def _not_chest(tmp_path: Path) -> dict[Path, str]:
    """Non-CXR files on disk → a word their ``ood_reason`` must contain."""
    from pydicom.data import get_testdata_file

    skimage_data = pytest.importorskip("skimage.data")
    files = {}
    for name, reason in DICOMS.items():
        path = get_testdata_file(name, download=False)
        if path:
            files[Path(path)] = reason
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(folder / "astronaut.png")
    Image.fromarray(skimage_data.text()).save(folder / "text.png")  # 448 × 172
    files[folder / "astronaut.png"] = "colour"
    files[folder / "text.png"] = "aspect ratio"
    return files


def _without(run: Path, folder: Path, *keys: str) -> Path:
    """A copy of the training folder ``run`` whose stored rule lacks ``keys`` (as an older raycxr wrote it)."""
    shutil.copytree(run, folder)
    checkpoint = torch.load(folder / "best.pt", weights_only=True)
    checkpoint["decision"] = {k: v for k, v in checkpoint["decision"].items() if k not in keys}
    torch.save(checkpoint, folder / "best.pt")
    return folder


def test_the_model_carries_its_validation_calibration_and_predict_reproduces_its_scores(
    trained_run: Path, tiny_dataset: Path
) -> None:
    loaded = load_model(trained_run)
    calibration = loaded.rule.features
    assert calibration is not None and loaded.rule.ood is not None and loaded.rule.ood.score == "energy"
    val = _validation_files(tiny_dataset)
    assert calibration.n == len(val) and calibration.n_train > len(val)
    result = predict_files(loaded, val, ood_quantile=1.0)
    # predict decodes and scores the files as fit scored the validation images: the largest
    # score is the calibration's 100 % quantile, and no validation image is above it.
    assert result.ood_score.max() == pytest.approx(calibration.threshold(1.0), abs=1e-4)
    assert result.ood_calibrated and not result.ood.any()
    strict = predict_files(loaded, val, ood_quantile=0.5)
    assert 0 < strict.ood.sum() <= math.ceil(0.5 * len(val))
    assert all("mahalanobis score" in reason for reason, flag in zip(strict.ood_reason, strict.ood) if flag)


#: The feature score's floor on the small model (measured: 1.0 on these files; the logit scores are near 0.5).
AUROC_FLOOR = 0.9


def test_the_feature_score_separates_validation_images_from_real_non_chest_files(
    trained_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    from pydicom.data import get_testdata_file

    skimage_data = pytest.importorskip("skimage.data")
    others = list(_not_chest(tmp_path))
    for name in ("camera", "coins", "moon", "page", "clock", "brick", "shepp_logan_phantom"):
        Image.fromarray(np.asarray(getattr(skimage_data, name)(), dtype=float).astype(np.uint8)).save(
            tmp_path / f"{name}.png"
        )
        others.append(tmp_path / f"{name}.png")
    others += [Path(p) for n in ("emri_small.dcm", "OBXXXX1A.dcm") if (p := get_testdata_file(n, download=False))]
    loaded = load_model(trained_run)
    val = predict_files(loaded, _validation_files(tiny_dataset))
    ood = predict_files(loaded, others)
    assert "mahalanobis" in val.ood_rule and len(ood.files) >= 8
    label = np.r_[np.zeros(len(val.files)), np.ones(len(ood.files))]
    auroc = roc_auc_score(label, np.r_[val.ood_score, ood.ood_score])
    print(f"feature score AUROC, validation vs {len(ood.files)} non-chest files: {auroc:.3f}")
    assert auroc >= AUROC_FLOOR, f"AUROC {auroc:.3f}"


def test_non_chest_files_are_flagged_in_the_csv_with_their_reasons(
    trained_run: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    others = _not_chest(tmp_path)
    val = _validation_files(tiny_dataset)
    out_csv = tmp_path / "p.csv"
    code, out, err = run_predict([str(trained_run), *map(str, val), *map(str, others), "--out", str(out_csv)], capsys)
    assert code == 0, err
    assert "out of distribution: mahalanobis score of the features" in out
    table = pd.read_csv(out_csv, keep_default_na=False).set_index("file")
    assert {"ood", "ood_score", "ood_reason"} <= set(table.columns)
    for path, reason in others.items():
        assert table.loc[str(path), "ood"] and reason in table.loc[str(path), "ood_reason"], path
    # the feature score flags most of them too, besides the file checks
    by_score = ["mahalanobis score" in table.loc[str(path), "ood_reason"] for path in others]
    assert sum(by_score) >= len(others) // 2, table.loc[[str(p) for p in others], "ood_reason"]
    in_dist = table.loc[[str(p) for p in val]]
    assert in_dist["ood"].sum() <= math.ceil(0.05 * len(val)) + 1  # the 95 % quantile, and its interpolation
    assert not any(word in " ".join(in_dist["ood_reason"]) for word in ("modality", "colour", "aspect"))
    flagged = int(table["ood"].sum())
    assert f"{flagged} flagged out of distribution" in out


def test_a_record_without_the_feature_score_falls_back_to_the_energy_score_and_says_so(
    trained_run: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = _without(trained_run, tmp_path / "older", "features")
    loaded = load_model(older)
    assert loaded.rule.features is None and loaded.rule.ood is not None
    val = _validation_files(tiny_dataset)
    result = predict_files(loaded, val, ood_quantile=1.0)
    assert result.ood_calibrated and not result.ood.any()
    assert result.ood_score.max() == pytest.approx(loaded.rule.ood.threshold(1.0), abs=1e-4)
    code, out, err = run_predict([str(older), *map(str, val[:3]), "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    assert "out of distribution: energy score above" in out and "stores no mahalanobis score" in out


def test_a_model_that_gives_no_features_falls_back_to_the_logit_score(trained_run: Path, tiny_dataset: Path) -> None:
    """A bundle (ONNX / TorchScript) runs logits only: predict uses the rule's energy calibration, and says why."""
    loaded = load_model(trained_run)
    net = loaded.model
    bundle_like = dataclasses.replace(loaded, model=lambda x: net(x), runtime="torchscript")  # not a FreezeNet
    val = _validation_files(tiny_dataset)[:4]
    result = predict_files(bundle_like, val)
    assert result.ood_calibrated and "energy score above" in result.ood_rule
    assert "gives no features" in result.ood_rule
    np.testing.assert_allclose(result.probabilities, predict_files(loaded, val).probabilities, atol=1e-5)


def test_a_record_without_calibration_still_predicts_and_says_so(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = _without(trained_run, tmp_path / "older", "ood", "features")
    assert load_model(older).rule.ood is None

    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm")
    code, out, err = run_predict([str(older), ct, "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    assert "uncalibrated" in out and "train it, run the CV or export it again" in out
    assert "1 flagged out of distribution (by file checks only: the OOD score is uncalibrated)" in out
    row = pd.read_csv(tmp_path / "p.csv").iloc[0]
    assert row["ood"] and row["ood_reason"] == "modality CT" and np.isfinite(row["ood_score"])


@pytest.mark.parametrize("bad", ["0", "1.5", "-0.1", "ninety", "nan"])
def test_a_bad_ood_quantile_is_a_one_line_error(
    bad: str, trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_predict([str(trained_run), str(tmp_path), f"--ood-quantile={bad}"], capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("python -m raycxr.predict: error")]
    assert "OOD quantile must be a number in (0, 1]" in line and "Traceback" not in err
    with pytest.raises(ValueError, match="OOD quantile"):
        predict_files(load_model(trained_run), [], ood_quantile=float(bad) if bad != "ninety" else 2.0)


def test_file_checks_pass_a_grey_radiograph_saved_as_rgb_and_a_chest_dicom(tmp_path: Path) -> None:
    from tests.data.test_dicom import write_dicom

    grey = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (80, 1))
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey.jpg", quality=80)
    assert input_reasons(tmp_path / "grey.jpg") == []
    chest = write_dicom(tmp_path / "chest.dcm", grey, bits_stored=8, Modality="DX", BodyPartExamined="CHEST")
    assert input_reasons(chest) == []
    head = write_dicom(tmp_path / "head.dcm", grey, bits_stored=8, Modality="DX", BodyPartExamined="SKULL")
    assert input_reasons(head) == ["body part SKULL"]


def test_the_radiograph_modalities_are_those_the_reader_accepts_without_a_warning() -> None:
    from raycxr.data._dicom import RADIOGRAPH_MODALITIES as READER
    from raycxr.predict import RADIOGRAPH_MODALITIES

    assert RADIOGRAPH_MODALITIES == READER
