"""``python -m raycxr.evaluate MODEL --data PATH``: external validation on another dataset's shared labels."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from raycxr.data import AUTO


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.evaluate",
        description="External validation: score a multi-label model on another dataset's labels that it shares "
        "with the model's (both mapped to the common label space), with the model's validation-chosen thresholds. "
        "Writes per-label and macro AUC, AP and F1 with bootstrap 95%% CIs resampling patients "
        "(external_metrics.csv), the predictions (external_predictions.csv) and a record (external.json); prints "
        "a one-line summary.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        type=Path,
        help="a search experiment folder (its best trial, or --trial), a 'python -m raycxr.train --out' folder, "
        "an experiment's cv/ folder or a bundle of 'python -m raycxr.export'",
    )
    parser.add_argument("--data", type=Path, required=True, help="the other dataset's root")
    parser.add_argument("--dataset", default=AUTO, help="how --data is read (default: detected)")
    parser.add_argument(
        "--test-split",
        choices=("all", "official"),
        default="all",
        help="'official': score the dataset's own test split only; 'all' (default): every image",
    )
    parser.add_argument("--out", type=Path, default=Path("external"), help="output folder (default: %(default)s)")
    parser.add_argument("--trial", metavar="ID", help="a search experiment's trial id (default: the best trial)")
    parser.add_argument("--config", metavar="NAME", help="an experiment's cv/ folder: this configuration's refit")
    parser.add_argument("--runtime", choices=("pytorch", "onnx", "torchscript"), help="what runs a bundle")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=_positive, default=32, help="images per batch (default: %(default)s)")
    parser.add_argument("--n-boot", type=_positive, default=2000, help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no per-file messages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from raycxr.evaluate._external import external_data, external_validation
    from raycxr.predict import ModelError, load_model

    if args.out.exists() and not args.out.is_dir():
        parser.exit(2, f"error: --out {args.out} is a file; give a folder.\n")
    official = args.test_split == "official"
    try:
        loaded = load_model(args.model, args.trial, config=args.config, runtime=args.runtime, device=args.device)
        prepared = external_data(loaded, args.data, args.dataset, official)
    except (ModelError, ValueError) as error:
        parser.exit(2, f"error: {' '.join(str(error).split())}\n")
    print(f"model: {loaded.source}; decision: {loaded.rule.describe()}", flush=True)
    for note in prepared.alignment.notes():
        print(f"note: {note}", flush=True)

    def say(message: str) -> None:
        if not args.quiet:
            print(f"error: {message}", file=sys.stderr, flush=True)

    try:
        result = external_validation(loaded, args.data, prepared.dataset, official=official, n_boot=args.n_boot,
                                     seed=args.seed, batch_size=args.batch_size, on_failure=say)  # fmt: skip
        paths = result.write(args.out)
    except ValueError as error:
        parser.exit(2, f"error: {' '.join(str(error).split())}\n")
    except OSError as error:
        parser.exit(2, f"error: cannot write {args.out} ({error.strerror or error}).\n")
    if result.left_out:
        print(f"note: {result.left_out} image(s) without a known value of any shared label left out", flush=True)
    if result.design.note:
        print(f"note: {result.design.note}", flush=True)
    print(f"{result.summary()}; wrote {', '.join(str(p) for p in paths)}", flush=True)
    if result.failures:
        print(f"error: {len(result.failures)} image(s) could not be read.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
