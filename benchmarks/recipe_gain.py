"""Does a searched training recipe beat the paper's recipe on images that look different?

    python benchmarks/recipe_gain.py [--n 800] [--test-n 400] [--shift 0.6] [--size 64]
        [--epochs 10] [--trials 8] [--space search_spaces/recipe.yaml] [--cpus 2] [--out DIR]

1. Synthetic phantoms (:mod:`raycxr.data.synthetic`): a development set (seed 0), an
   in-distribution test set (seed 1) and a shifted test set (seed 2, ``--shift``: the patient
   off-centre and rotated, lower contrast, another gamma, more noise and blur; the same findings).
2. Two real searches on the development set, as ``python -m raycxr.tune`` runs them: the
   paper's recipe (one trial of ``search_spaces/paper.yaml``: Adam at a constant rate, no
   augmentation, no regularisation) and a recipe search (``--trials`` trials of ``--space``, the
   paper's configuration enqueued first), both with the same epochs, image size and seed.
3. Each search's best trial (by validation macro-F1) predicts both test sets through
   :func:`raycxr.predict.predict_files` with its own decision rule; the table gives test macro-F1
   with 95 % bootstrap intervals (images resampled within classes) and the paired bootstrap
   difference (recipe − paper) with its p-value. The best augmented trial of the recipe search (by
   the same validation metric) is scored too: whether augmentation helps under the shift.

The searches never see the test sets: the shifted set asks whether the recipe the search picked
on in-distribution validation images also generalises to a shift it did not see.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import ray

from raycxr.data.synthetic import CLASSES, generate
from raycxr.evaluation import bootstrap_ci, macro_f1, paired_bootstrap
from raycxr.experiment import TRIALS_FILE
from raycxr.predict import find_images, load_model, predict_files
from raycxr.train import TrainConfig
from raycxr.tune import TuneSettings, run_search

PAPER_SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "paper.yaml"
RECIPE_SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "recipe.yaml"


def _labels(files: list[Path]) -> np.ndarray:
    """Class index of each synthetic file, from its class folder (``<Class>/images/<file>``)."""
    return np.array([CLASSES.index(f.parent.parent.name) for f in files])


def _recipe(config: TrainConfig) -> str:
    """The configuration's settings that differ from the paper's defaults (what the search changed)."""
    default = TrainConfig().model_dump()
    ignored = {"data", "out", "cache_dir", "weights", "image_size", "epochs", "patience", "seed", "folds"}
    changed = {k: v for k, v in config.model_dump().items() if k not in ignored and v != default[k]}
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in changed.items()) or "defaults"


def _search(space: Path, data: Path, storage: Path, name: str, trials: int, common: list[str]) -> tuple[Path, float]:
    """Run one search; returns the experiment folder and its wall time."""
    start = time.perf_counter()
    settings = TuneSettings(
        space=str(space),
        data=data,
        storage=str(storage),
        name=name,
        num_samples=trials,
        enqueue="paper" if trials > 1 else None,
        set=common,
    )
    result = run_search(settings)
    failed = result.trials[result.trials["status"] != "completed"]
    if len(failed):
        raise SystemExit(f"{name}: {len(failed)} trial(s) did not complete:\n{failed[['status', 'error']]}")
    return storage / name, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=800, help="development images")
    parser.add_argument("--test-n", type=int, default=400, help="images in each test set")
    parser.add_argument("--shift", type=float, default=0.6, help="look shift of the shifted test set, in [0, 1]")
    parser.add_argument("--size", type=int, default=64, help="image size (generated and trained)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trials", type=int, default=8, help="trials of the recipe search")
    parser.add_argument("--space", type=Path, default=RECIPE_SPACE, help="the recipe search's space")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="keep the data and experiments here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        os.environ.setdefault("RAYCXR_CACHE", str(root / "cache"))
        dev = generate(root / "dev", n=args.n, size=args.size, seed=0, workers=2)
        tests = {
            "in-distribution": generate(root / "test", n=args.test_n, size=args.size, seed=1, workers=2),
            f"shifted ({args.shift:g})": generate(
                root / "shifted", n=args.test_n, size=args.size, seed=2, workers=2, shift=args.shift
            ),
        }
        common = [
            f"image_size={args.size}",
            f"epochs={args.epochs}",
            f"patience={args.epochs}",
            f"seed={args.seed}",
            "folds=5",
        ]
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            runs = {
                "paper": _search(PAPER_SPACE, dev, root / "runs", "paper", 1, common),
                "recipe search": _search(args.space, dev, root / "runs", "recipe", args.trials, common),
            }
        finally:
            ray.shutdown()

        models = {name: load_model(folder) for name, (folder, _) in runs.items()}
        # Also the best augmented trial (by the same validation metric): does augmentation help under the shift?
        trials = pd.read_csv(runs["recipe search"][0] / TRIALS_FILE, dtype={"trial_id": str})
        augmented = trials[trials["param_augment"] != "none"]
        if len(augmented):
            best = augmented.loc[augmented["best_val_f1_macro"].idxmax(), "trial_id"]
            models["best augmented"] = load_model(runs["recipe search"][0], trial=best)
        print()
        print(
            f"{args.n} development images, {args.test_n} per test set, {args.size} px, {args.epochs} epochs, "
            f"recipe search: {args.trials} trials of {args.space.name}"
        )
        for name, loaded in models.items():
            wall = f" ({runs[name][1]:.0f} s of search)" if name in runs else ""
            print(f"- {name}{wall}: {loaded.source}; {_recipe(loaded.config)}")
        print()
        names = list(models)
        header = [f"{n} macro-F1 [95 % CI]" for n in names] + [f"{n} − paper [95 % CI], p" for n in names[1:]]
        print("| test set | " + " | ".join(header) + " |")
        print("|---|" + "---|" * len(header))
        for test_name, folder in tests.items():
            files = find_images([folder])
            y = _labels(files)
            scored = {}
            for name, loaded in models.items():
                predictions = predict_files(loaded, files, progress=False)
                assert predictions.files == [str(f) for f in files], "predict left files out"
                scored[name] = (predictions.probabilities, loaded.rule)
            cells = []
            for name in models:
                proba, rule = scored[name]
                ci = bootstrap_ci(partial(macro_f1, rule=rule), y, proba, n_boot=args.n_boot, seed=0)
                cells.append(f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]")
            pb, rb = scored["paper"]
            for name in names[1:]:  # each against the paper's recipe, on the same resamples
                pa, ra = scored[name]
                diff = paired_bootstrap(
                    partial(macro_f1, rule=ra), y, pa, pb, n_boot=args.n_boot, seed=0,
                    metric_b=partial(macro_f1, rule=rb),
                )  # fmt: skip
                cells.append(f"{diff.diff:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}], p {diff.p_value:.3f}")
            print(f"| {test_name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
