"""How well each OOD score separates a model's validation images from images that are not chest radiographs.

    python benchmarks/ood_auroc.py [--n 600] [--size 64] [--image-size 64] [--epochs 3]
        [--backbone resnet18] [--seed 0] [--out DIR]

1. ``--n`` synthetic phantoms (:mod:`raycxr.data.synthetic`) are written as PNGs and a small
   model is trained on them for real, as ``python -m raycxr.train --out`` does (its ``best.pt``
   carries the decision rule and the OOD calibration fitted on its validation images).
2. In distribution: the model's validation images, and its test images (never seen in
   training nor calibration). Out of distribution, real images shipped with packages:
   scikit-image's ``skimage.data`` photographs and micrographs (as PNG; colour ones too, the
   model sees their luminance) and pydicom's test files (CT, MR, ultrasound, nuclear medicine,
   colour secondary captures, palette colour; ``pydicom-data`` adds more when installed).
3. Every file goes through :func:`raycxr.predict.predict_files` (the decoder predict uses);
   the logits of each image give every score of :data:`raycxr.evaluation.OOD_SCORES`, and its
   penultimate features the ``mahalanobis`` score stored with the model (fitted on the training
   images' features by ``fit``; predict's default score for a PyTorch model).

The table: per score, the AUROC of validation vs OOD (1 = perfect separation), of test vs OOD,
and at the default strictness (the 95 % validation quantile) the fraction of test images and of
OOD images flagged by the score alone; then the fraction flagged by predict's full rule (the
stored score or a file check: modality, body part, colour, aspect ratio), and the training time
spent fitting the feature score (a pass over the training images at each best epoch).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from raycxr.data.synthetic import generate
from raycxr.evaluation import DEFAULT_OOD_QUANTILE, FEATURE_SCORE, OOD_SCORES, calibrate_ood, ood_scores
from raycxr.predict import LoadedModel, load_model, predict_files
from raycxr.train import TrainConfig, prepare_data
from raycxr.train.__main__ import run

SKIMAGE = ("astronaut", "camera", "coffee", "chelsea", "moon", "text", "coins", "page", "rocket", "grass",
           "gravel", "brick", "clock", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel",
           "microaneurysms", "checkerboard", "horse", "binary_blobs", "shepp_logan_phantom", "logo")  # fmt: skip
DICOM = ("CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm", "SC_rgb.dcm", "SC_rgb_small_odd.dcm", "color-pl.dcm",
         "OBXXXX1A.dcm", "emri_small.dcm", "MR2_J2KI.dcm", "US1_J2KR.dcm", "JPEG2000.dcm", "examples_ybr_color.dcm",
         "rtdose.dcm", "liver.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "CT_small.dcm")  # fmt: skip


def skimage_files(out: Path) -> list[Path]:
    """``skimage.data`` images that ship with scikit-image, written as 8-bit PNGs."""
    import skimage.data

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in SKIMAGE:
        try:
            pixels = np.asarray(getattr(skimage.data, name)())
        except Exception:  # noqa: BLE001  (an image that needs pooch's download: skipped)
            continue
        if pixels.dtype != np.uint8:  # boolean masks, float phantoms: stretched to 0..255
            values = pixels.astype(float)
            pixels = (255 * (values - values.min()) / max(float(np.ptp(values)), 1e-9)).astype(np.uint8)
        Image.fromarray(pixels).save(out / f"{name}.png")
        files.append(out / f"{name}.png")
    return files


def dicom_files() -> list[Path]:
    """pydicom's own test files (and pydicom-data's, when installed) that are not radiographs."""
    from pydicom.data import get_testdata_file

    found = []
    for name in dict.fromkeys(DICOM):
        try:
            path = get_testdata_file(name, download=False)
        except Exception:  # noqa: BLE001  (not shipped with this pydicom)
            path = None
        if path:
            found.append(Path(path))
    return found


def logits_of(loaded: LoadedModel, files: list[Path]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The files read, their logits, predict's OOD flags and its OOD scores (the feature score when stored)."""
    parts: list[np.ndarray] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = predict_files(loaded, files, on_batch=lambda _f, _i, z: parts.append(z.numpy()), progress=False)
    return result.files, np.concatenate(parts), result.ood, result.ood_score


def row(kind: str, s_val: np.ndarray, s_test: np.ndarray, s_ood: np.ndarray, threshold: float) -> str:
    """One table row: AUROC val vs OOD, test vs OOD, fractions of test and OOD images above ``threshold``."""
    auc_val = roc_auc_score(np.r_[np.zeros(len(s_val)), np.ones(len(s_ood))], np.r_[s_val, s_ood])
    auc_test = roc_auc_score(np.r_[np.zeros(len(s_test)), np.ones(len(s_ood))], np.r_[s_test, s_ood])
    return (f"| {kind} | {auc_val:.3f} | {auc_test:.3f} | {np.mean(s_test > threshold):.1%} | "
            f"{np.mean(s_ood > threshold):.1%} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--size", type=int, default=64, help="phantom size in pixels")
    parser.add_argument("--image-size", type=int, default=64, help="model input size")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="ood_auroc_"))
    data = root / "cxr"
    if not data.is_dir():
        generate(data, n=args.n, size=args.size, seed=args.seed, workers=2)
    cfg = TrainConfig(data=data, out=root / "model", backbone=args.backbone, weights="none",
                      image_size=args.image_size, head="gap", loss="ce", epochs=args.epochs, batch_size=16,
                      seed=args.seed).check()  # fmt: skip
    if not (root / "model" / "best.pt").is_file():  # a second run on the same --out reuses the model
        run(cfg)
    loaded = load_model(root / "model")
    prepared = prepare_data(cfg)
    split = prepared.splits[cfg.fold]
    val = [prepared.index.paths[r] for r in split.val]
    test = [prepared.index.paths[r] for r in split.test]
    ood_files = skimage_files(root / "skimage") + dicom_files()

    _, z_val, _, f_val = logits_of(loaded, val)
    _, z_test, flag_test, f_test = logits_of(loaded, test)
    ood_read, z_ood, flag_ood, f_ood = logits_of(loaded, ood_files)
    features = loaded.rule.features
    print(f"model: {loaded.source}; stored OOD calibration: {loaded.rule.ood.describe() if loaded.rule.ood else None}")
    print(f"stored feature score: {features.describe() if features else None}")
    print(f"in distribution: {len(val)} validation, {len(test)} test images; out of distribution: {len(ood_read)} "
          f"files ({sum(not f.endswith('.dcm') for f in ood_read)} skimage PNGs, "
          f"{sum(f.endswith('.dcm') for f in ood_read)} DICOM)\n")  # fmt: skip
    header = "| score | AUROC val vs OOD | AUROC test vs OOD | test flagged | OOD flagged |"
    print(header + "\n" + "|---" * 5 + "|")
    for kind in OOD_SCORES:
        s_val, s_test, s_ood = (ood_scores(z, kind) for z in (z_val, z_test, z_ood))
        print(row(kind, s_val, s_test, s_ood, calibrate_ood(z_val, kind).threshold(DEFAULT_OOD_QUANTILE)))
    if features is not None:  # predict's scores are the feature score's
        print(row(FEATURE_SCORE, f_val, f_test, f_ood, features.threshold(DEFAULT_OOD_QUANTILE)))
    used = FEATURE_SCORE if features is not None else (loaded.rule.ood.score if loaded.rule.ood else "-")
    print(f"\npredict's flag (stored {used} score at {DEFAULT_OOD_QUANTILE} or a file check): test "
          f"{np.mean(flag_test):.1%} flagged, OOD {np.mean(flag_ood):.1%} flagged")  # fmt: skip
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    if "ood_seconds" in metrics:
        print(f"training: {metrics['seconds']:.1f} s for {metrics['epochs_run']} epochs, of which "
              f"{metrics['ood_seconds']:.1f} s fitting the feature score (best epochs: training + validation "
              "features)")  # fmt: skip


if __name__ == "__main__":
    main()
