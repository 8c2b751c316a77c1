"""``python -m raycxr.export MODEL OUT/``: a bundle that predicts without the experiment."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.export",
        description="Export a trained model as OUT/model.ts (TorchScript), OUT/model.onnx (dynamic batch axis) and "
        "OUT/bundle.json (classes, input size and filter, normalisation, temperature, threshold, versions, "
        "provenance). Both models take uint8 grayscale images (batch, S, S) and give logits; the ONNX model is "
        "checked against PyTorch with onnxruntime. 'python -m raycxr.predict OUT …' then predicts without the "
        "experiment.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        type=Path,
        help="a search experiment folder (its best trial, or --trial), a 'python -m raycxr.train --out' folder or "
        "an experiment's cv/ folder (the refit of the configuration the CV selected, or --config)",
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="the bundle folder to write")
    parser.add_argument("--trial", metavar="ID", help="a search experiment's trial id (default: the best trial)")
    parser.add_argument(
        "--config",
        metavar="NAME",
        help="an experiment's cv/ folder: the refit of this configuration (as the report names it) instead of the "
        "one the CV selected",
    )
    parser.add_argument(
        "--sample",
        metavar="IMAGES",
        nargs="+",
        type=Path,
        help="real images (files or folders) to check the exported models on (default: synthetic phantoms)",
    )
    parser.add_argument("--max-samples", type=int, default=16, help="check on at most this many images (default 16)")
    parser.add_argument("--force", action="store_true", help="overwrite a bundle already in OUT")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from raycxr.experiment import BUNDLE_FILE
    from raycxr.export._export import ExportError, export_model
    from raycxr.predict import ModelError, decode, find_images, load_model

    if (args.out / BUNDLE_FILE).exists() and not args.force:
        parser.exit(2, f"error: {args.out} holds a bundle already; use --force to overwrite it.\n")
    if args.out.exists() and not args.out.is_dir():
        parser.exit(2, f"error: {args.out} is a file; OUT must be a folder.\n")
    try:
        loaded = load_model(args.model, args.trial, config=args.config)
    except ModelError as error:
        parser.exit(2, f"error: {error}\n")
    if loaded.kind == "bundle":
        parser.exit(2, f"error: {args.model} is a bundle already; export the folder it came from.\n")
    samples, note = None, None
    if args.sample:
        files = find_images(args.sample)[: args.max_samples]
        images = []
        for file in files:
            image, reason, _ = decode(file, loaded.image_size, loaded.interpolation, resize=loaded.resize)
            if image is None:
                parser.exit(2, f"error: --sample: {reason}\n")
            images.append(image)
        if not images:
            parser.exit(2, f"error: --sample: no images in {', '.join(map(str, args.sample))}.\n")
        samples, note = np.stack(images), f"{len(images)} real image(s) given with --sample"
    print(f"model: {loaded.source}", flush=True)
    try:
        result = export_model(loaded, args.out, samples, note)
    except (ExportError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    check = result.bundle["check"]
    print(f"ONNX vs PyTorch (onnxruntime, {check['inputs']}): max |Δlogit| {result.onnx_max_abs_diff:.3g}")
    if result.torchscript:
        print(f"TorchScript vs PyTorch: max |Δlogit| {result.torchscript_max_abs_diff:.3g}")
    else:
        print(f"TorchScript: not exported (ONNX only): {result.torchscript_error}")
    if result.bundle["onnx_batch"] is not None:
        print(f"ONNX: fixed batch size {result.bundle['onnx_batch']} (predict runs it image by image)")
    files = [name for name in result.bundle["files"].values() if name] + [BUNDLE_FILE, *result.copied]
    print(f"wrote {args.out}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
