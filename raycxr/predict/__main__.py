"""``python -m raycxr.predict MODEL IMAGES…``: class probabilities of image files, as a CSV file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from raycxr.evaluation import DEFAULT_OOD_QUANTILE, check_quantile
from raycxr.predict._load import load_model
from raycxr.predict._model import RUNTIMES, ModelError
from raycxr.predict._predict import find_images, ood_description, predict_files, saliency_writer
from raycxr.predict._tta import check_tta


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _quantile(value: str) -> float:
    try:
        return check_quantile(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.predict",
        description="Predict the class probabilities of chest X-ray images (PNG, JPEG, 16-bit PNG, DICOM) with a "
        "trained model, and write them to a CSV file (file, p_<class> per class, predicted, ood, ood_score, "
        "ood_reason; a multi-label model: p_<label> and <label> (0/1 by the label's validation threshold) per "
        "label and findings, the positive labels joined by '|'). Images unlike the model's validation images (by "
        "its OOD score) or not chest radiographs (DICOM modality or body part, colour, aspect ratio) are flagged in "
        "the ood column. Unreadable images are reported and skipped; the exit status is then 1.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        type=Path,
        help="a search experiment folder (its best trial, or --trial), a 'python -m raycxr.train --out' folder, "
        "an experiment's cv/ folder (the refit of the configuration the CV selected, scored on its test set; "
        "--config for another), or a bundle of 'python -m raycxr.export'",
    )
    parser.add_argument(
        "images",
        metavar="IMAGES",
        nargs="+",
        type=Path,
        help="image files, or folders searched recursively (image suffixes, and suffix-less DICOM files)",
    )
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="CSV file (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive, default=32, help="images per batch (default: %(default)s)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="'auto': a GPU when there is one"
    )
    parser.add_argument("--trial", metavar="ID", help="a search experiment's trial id (default: the best trial)")
    parser.add_argument(
        "--config",
        metavar="NAME",
        help="an experiment's cv/ folder: the refit of this configuration (as the report names it) instead of the "
        "one the CV selected",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="what runs a bundle: onnx (onnxruntime, the default) or torchscript; other models run in pytorch",
    )
    parser.add_argument(
        "--saliency",
        type=Path,
        metavar="DIR",
        help="write a Grad-CAM overlay PNG of the predicted class per image (a multi-label model: one per "
        "predicted-positive label, or of the most probable label when none is)",
    )
    parser.add_argument(
        "--ood-quantile",
        type=_quantile,
        default=DEFAULT_OOD_QUANTILE,
        metavar="Q",
        help="how strict the out-of-distribution flag is: flag an image whose OOD score is above the score that "
        "this fraction of the model's validation images do not exceed, in (0, 1] (default: %(default)s; "
        "higher flags fewer)",
    )
    parser.add_argument(
        "--tta",
        type=int,
        default=0,
        metavar="N",
        help="test-time augmentation: average each image's logits over it and N augmented views (training's "
        "'light' augmentation, seeded; no flip), 0 to 32 (default: %(default)s, none)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-file messages, no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_tta(args.tta)
        loaded = load_model(args.model, args.trial, config=args.config, runtime=args.runtime, device=args.device)
    except (ModelError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    if loaded.device.type == "cuda":  # float32 as on the CPU: no TF32 convolutions / matmuls (this process only)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    files = find_images(args.images)
    if not files:
        parser.exit(2, f"error: no images in {', '.join(map(str, args.images))}.\n")
    if args.out.is_dir():
        parser.exit(2, f"error: --out {args.out} is a folder; give a CSV file name.\n")
    where = f"{loaded.runtime} on {loaded.device}"
    print(f"model: {loaded.source}; {where}; decision: {loaded.rule.describe()}", flush=True)
    print(f"out of distribution: {ood_description(loaded, args.ood_quantile)}; or not a chest radiograph by its "
          "file (modality, body part, colour, aspect ratio)", flush=True)  # fmt: skip
    if args.tta:
        print(f"test-time augmentation: logits averaged over each image and {args.tta} augmented view(s)", flush=True)

    def say(kind: str) -> Callable[[str], None] | None:
        return None if args.quiet else (lambda message: print(f"{kind}: {message}", file=sys.stderr, flush=True))

    on_batch = None
    if args.saliency is not None:
        try:
            on_batch = saliency_writer(loaded, args.saliency)
        except ValueError as error:
            parser.exit(2, f"error: {error}\n")
    result = predict_files(
        loaded,
        files,
        args.batch_size,
        progress=False if args.quiet else None,
        on_failure=say("error"),
        on_warning=say("warning"),
        on_batch=on_batch,
        ood_quantile=args.ood_quantile,
        tta=args.tta,
    )
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.frame().to_csv(args.out, index=False)
    except OSError as error:
        parser.exit(2, f"error: cannot write {args.out} ({error.strerror or error}).\n")
    print(f"{result.summary()}; wrote {args.out}", flush=True)
    if args.saliency is not None:
        if loaded.multilabel:
            what = "one per positive label, else of the most probable"
            print(f"wrote Grad-CAM overlays of {len(result.files)} image(s) ({what}) to {args.saliency}", flush=True)
        else:
            print(f"wrote {len(result.files)} Grad-CAM overlay(s) to {args.saliency}", flush=True)
    if result.failures:
        print(f"error: {len(result.failures)} of {len(files)} image(s) could not be read.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
