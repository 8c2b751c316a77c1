"""``python -m raycxr.evaluate``: an NIH-trained multi-label model scored on CheXpert and MIMIC-CXR replicas'
shared labels, in the common label space, with patient-bootstrap intervals; and the errors before any image is
decoded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycxr.data import apply_uncertain, read_dataset, to_common
from raycxr.evaluate import METRICS_FILE, PREDICTIONS_FILE, RECORD_FILE, align_labels
from raycxr.evaluate.__main__ import main
from raycxr.evaluation import multilabel_metrics
from raycxr.predict import load_model
from tests.data.replicas import CHEXPERT_OBSERVATIONS, chexpert_replica, mimic_replica

SHARED = ("Atelectasis", "Cardiomegaly", "Edema")  # of the model's four NIH labels; CheXpert has no Emphysema


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = _run(argv, capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert "model:" not in out  # refused before anything was scored
    return err.removeprefix("error: ").strip()


@pytest.mark.slow
def test_an_nih_model_on_chexpert_resamples_patients(
    multilabel_experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = chexpert_replica(tmp_path / "chexpert", patients=24)
    out = tmp_path / "external"
    argv = [str(multilabel_experiment), "--data", str(data), "--out", str(out), "--n-boot", "200"]
    code, printed, err = _run(argv, capsys)
    assert code == 0, err
    assert "note: label 'Emphysema' skipped: chexpert does not report 'Emphysema'" in printed
    summary = printed.strip().splitlines()[-1]
    assert summary.startswith(
        f"external validation on chexpert (104 images, 26 patients; 3 shared label(s): {', '.join(SHARED)}): macro AUC "
    )
    assert "(95% CI, resampling patient (26 patients), 200 resamples)" in summary

    table = pd.read_csv(out / METRICS_FILE, keep_default_na=False)
    assert table[["label", "metric"]].values.tolist() == [
        ["macro", "auc"], ["macro", "ap"], ["macro", "f1"],
        *([label, metric] for label in SHARED for metric in ("auc", "ap", "f1")),
    ]  # fmt: skip
    values = table[["value", "ci_low", "ci_high"]].astype(float)
    assert (values["ci_low"] <= values["value"]).all() and (values["value"] <= values["ci_high"]).all()
    assert (values["ci_low"] < values["ci_high"]).all() and (table["n_used"] > 150).all()

    # the labels are CheXpert's in the common space, uncertain ones masked (the model's policy: ignore)
    index = read_dataset(data, "chexpert")
    common = to_common(index, "chexpert")
    expected = apply_uncertain(common.labels[:, [common.classes.index(s) for s in SHARED]], "ignore")
    predictions = pd.read_csv(out / PREDICTIONS_FILE)
    rows = [index.paths.index(Path(f)) for f in predictions["file"]]
    np.testing.assert_array_equal(predictions[list(SHARED)].to_numpy(float), expected[rows])
    assert predictions["patient"].nunique() == 26
    # the estimates are the multi-label metrics of these predictions at the model's validation thresholds
    loaded = load_model(multilabel_experiment)
    thresholds = np.asarray(loaded.rule.thresholds)[[loaded.classes.index(s) for s in SHARED]]
    proba = predictions[[f"p_{s}" for s in SHARED]].to_numpy(float)
    metrics = multilabel_metrics(expected[rows], proba, SHARED, thresholds)
    assert table.loc[0, "value"] == pytest.approx(metrics["auc_ovr_macro"])
    assert table.loc[8, "value"] == pytest.approx(metrics["f1/Cardiomegaly"])
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["patients"] == 26 and record["resampling"]["unit"] == "group"
    assert record["skipped"] == {"Emphysema": "chexpert does not report 'Emphysema'"}
    assert record["uncertain"] == "ignore" and record["left_out_no_known_label"] == 0

    # --test-split official: CheXpert's valid.csv only (two patients: images resampled, and said so)
    code, printed, err = _run([*argv, "--test-split", "official", "--out", str(tmp_path / "official")], capsys)
    assert code == 0, err
    assert "note: 2 groups < 20: resampled images" in printed
    assert "external validation on chexpert (8 images, 2 patients;" in printed


@pytest.mark.slow
def test_an_nih_model_on_mimic(multilabel_experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = mimic_replica(tmp_path / "mimic")
    code, printed, err = _run([str(multilabel_experiment), "--data", str(data), "--out", str(tmp_path / "x"),
                               "--n-boot", "100"], capsys)  # fmt: skip
    assert code == 0, err
    assert "note: label 'Emphysema' skipped: mimic-cxr-jpg does not report 'Emphysema'" in printed
    assert "note: 2 image(s) without a known value of any shared label left out" in printed  # the unlabelled study
    assert "note: 4 groups < 20: resampled images" in printed
    assert "external validation on mimic-cxr-jpg (14 images, 4 patients; 3 shared label(s)" in printed
    assert "resampling image, 100 resamples)" in printed


@pytest.mark.slow
def test_external_validation_errors(
    multilabel_experiment: Path, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(multilabel_experiment)
    assert _error([model, "--data", str(tiny_dataset)], capsys).startswith(
        f"{tiny_dataset}: dataset kaggle-covid is single-label (classes COVID, Lung_Opacity, Normal, Viral Pneumonia)"
    )
    assert "has no official test split" in _error([model, "--data", str(tiny_dataset), "--test-split", "official"],
                                                  capsys)  # fmt: skip
    assert "is not a model folder" in _error([str(tmp_path), "--data", str(tiny_dataset)], capsys)
    assert str(tmp_path / "nothing") in _error([model, "--data", str(tmp_path / "nothing"), "--dataset", "chexpert"],
                                               capsys)  # fmt: skip


def test_labels_align_in_the_common_space() -> None:
    model = ("Pleural Effusion", "Support Devices", "Edema", "Lung Lesion")  # a CheXpert model's labels
    nih = ("Atelectasis", "Effusion", "Edema", "Mass")
    aligned = align_labels(model, "chexpert", nih, "nih")
    assert aligned.common == ("Effusion", "Edema") and aligned.model_labels == ("Pleural Effusion", "Edema")
    assert aligned.columns == (0, 2)
    assert aligned.skipped == {"Support Devices": "not in the common label space",
                               "Lung Lesion": "nih does not report 'Lung Lesion'"}  # fmt: skip
    assert aligned.notes()[0] == "label 'Support Devices' skipped: not in the common label space"
    # a model of a dataset without a map (a csv): its labels spelled as common labels are common labels
    assert align_labels(("Edema", "Foo"), "csv", CHEXPERT_OBSERVATIONS, "chexpert").common == ("Edema",)
    with pytest.raises(ValueError, match=r"^no shared label: the model's labels \(Mass, Nodule\) and chexpert's \("):
        align_labels(("Mass", "Nodule"), "nih", CHEXPERT_OBSERVATIONS, "chexpert")
