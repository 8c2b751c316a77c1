"""``python -m raycxr.cv EXPERIMENT``: cross-validate a search's best trials and the paper's baselines."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from raycxr.cv._cv import CVSettings, run_cv
from raycxr.experiment import SELECTION_FILE, read_json
from raycxr.train import add_config_options, run_from_args


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.cv",
        description="Re-train the top-k trials of a search and the paper's baselines under k-fold cross-validation "
        "(each configuration × fold a Ray Train run; an interrupted CV resumes) and write EXPERIMENT/cv/: "
        "report.md, folds.csv, summary.csv, comparisons.csv and PNG figures.",
    )
    parser.add_argument("experiment", help="the search's experiment folder (STORAGE/NAME)")
    add_config_options(parser, CVSettings, skip=("experiment",))
    args = parser.parse_args(argv)
    result = run_from_args(parser, args, CVSettings, run_cv)
    print(f"Selected by {result.selected_by} inside dev: {result.best}. Report: {result.report}", flush=True)
    if (result.out / SELECTION_FILE).is_file() and read_json(result.out / SELECTION_FILE).get("refits"):
        print(f"Use its refit (the weights its test table scored): python -m raycxr.predict {result.out} IMAGES")


if __name__ == "__main__":
    main()
