"""``python -m raycxr.cv EXPERIMENT``: cross-validate a search's best trials and the paper's baselines."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from raycxr.cv._cv import CVSettings, run_cv
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
    print(f"Best configuration by mean test macro-F1: {result.best}. Report: {result.report}", flush=True)


if __name__ == "__main__":
    main()
