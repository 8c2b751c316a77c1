"""``python -m raycxr.cv EXPERIMENT``: cross-validate a search's best trials and the paper's baselines."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pydantic import ValidationError

from raycxr.cv._cv import CVSettings, run_cv
from raycxr.train._cli import add_config_options
from raycxr.train._config import format_validation_error


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
    try:
        values = {k: v for k, v in vars(args).items() if k in CVSettings.model_fields}
        try:
            settings = CVSettings(**values)
        except ValidationError as error:
            raise ValueError(format_validation_error(error, "command line")) from None
        result = run_cv(settings)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    print(f"Best configuration by mean test macro-F1: {result.best}. Report: {result.report}", flush=True)


if __name__ == "__main__":
    main()
