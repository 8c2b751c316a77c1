"""Every file and folder name of what raycxr writes, defined once.

A **search experiment** is a folder ``STORAGE/NAME`` (:class:`Experiment`): raycxr's own
records (``raycxr.json``, ``trials.csv``, ``best_config.json``, ``splits.csv`` …) beside Tune's
trial folders ``trial_<id>/`` (each with raycxr's ``train_config.json`` and Tune's checkpoints)
and, for trials trained as Ray Train runs, ``train/train-<id>/``. Its cross-validation is the
folder ``cv/`` (:class:`CVFolder`), a nested CV ``nested/outer<k>/``. A ``python -m raycxr.train``
run writes ``best.pt`` and ``metrics.json``; ``python -m raycxr.export`` a bundle folder.

Nothing here imports Ray or torch: predict, export and the dashboards read experiments
without starting (or importing) either.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

# A search experiment.
EXPERIMENT_FILE = "raycxr.json"  #: the search's settings, its space and the task's classes
STUDY_FILE = "optuna.db"
TRIALS_FILE = "trials.csv"
BEST_FILE = "best_config.json"
SPLITS_FILE = "splits.csv"  #: the dev/test partition, a content hash of every file
LEAKAGE_FILE = "leakage.csv"  #: duplicate pairs within and across dev and test
SEARCH_LEAKAGE_FILE = "leakage_search.csv"  #: the pairs straddling the search's train/validation slice
FOLDS_LEAKAGE_FILE = "leakage_folds.csv"  #: the pairs straddling the CV's folds
OUTER_LEAKAGE_FILE = "leakage_outer.csv"  #: the pairs straddling a nested CV's outer folds
SEARCH_ROWS_FILE = "search_rows.csv"  #: the files the search trains and validates on
PARETO_PNG = "pareto.png"
TRAIN_DIR = "train"  #: Ray Train runs' storage: ``train/train-<trial id>/``
TRIAL_CONFIG_FILE = "train_config.json"  #: a trial's resolved training configuration, in its folder
STATE_FILE = "state.pt"  #: a run's ``FitState`` inside each of its checkpoints
#: raycxr's own record of an experiment (besides Tune's): uploaded with it to URI storage.
RECORD_FILES = (EXPERIMENT_FILE, STUDY_FILE, SPLITS_FILE, LEAKAGE_FILE, SEARCH_LEAKAGE_FILE, SEARCH_ROWS_FILE)

# Nested CV, inside the experiment.
NESTED_DIR = "nested"
NESTED_FILE = "nested.csv"
WINNER_FILE = "winner.json"
OUTER_ROWS_FILE = "rows.csv"  #: an outer fold's inner training / validation and outer test files

# Cross-validation, inside the experiment.
CV_DIR = "cv"
CV_RECORD = "cv.json"  #: the CV's settings (a resumed CV must have the same)
SELECTION_FILE = "selection.json"  #: the configuration the CV selected, and every one it evaluated
REFITS_DIR = "refits"  #: ``refits/<configuration>/``: the weights scored on test
REFIT_FILE = "refit.json"  #: a refit's configuration, decision rule, data hash and test metrics
REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.csv"
FOLDS_FILE = "folds.csv"
COMPARISONS_FILE = "comparisons.csv"
CV_ROWS_FILE = "rows.csv"
#: A multi-label final test's per-label table (``test_per_label.csv``: support, threshold, AUC / AP / F1
#: with intervals, ECE, Brier), beside the other ``test_<table>.csv`` files of :func:`test_file`.
PER_LABEL_TABLE = "per_label"
# Inside each CV run's last checkpoint.
EVALUATION_FILE = "evaluation.pt"
MODEL_FILE = "model.pt"  #: a refit's restored weights (a state dict)
METRICS_FILE = "metrics.json"
FINAL_FILE = "final.json"  #: the run's last report, said again if it is restarted after it ended

# python -m raycxr.train --out
TRAIN_CHECKPOINT = "best.pt"
TRAIN_METRICS = "metrics.json"

# python -m raycxr.export
BUNDLE_FILE = "bundle.json"
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.ts"


def trial_dirname(trial_id: str) -> str:
    """A trial's folder, and its name everywhere a user sees one: ``trial_<id>``."""
    return f"trial_{trial_id}"


def test_file(table: str) -> str:
    """The CSV of one final-test table: ``test_<table>.csv``."""
    return f"test_{table}.csv"


test_file.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclasses.dataclass(frozen=True)
class CVFolder:
    """An experiment's cross-validation folder ``EXPERIMENT/cv``."""

    directory: Path

    def file(self, name: str) -> Path:
        return self.directory / name

    @property
    def selection_file(self) -> Path:
        return self.directory / SELECTION_FILE

    def refit_dir(self, config: str) -> Path:
        """Where the refit of ``config`` keeps its weights and record."""
        return self.directory / REFITS_DIR / config


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A search experiment folder and the paths of everything in it."""

    directory: Path

    def file(self, name: str) -> Path:
        return self.directory / name

    @property
    def record_file(self) -> Path:
        return self.directory / EXPERIMENT_FILE

    @property
    def trials_file(self) -> Path:
        return self.directory / TRIALS_FILE

    @property
    def best_file(self) -> Path:
        return self.directory / BEST_FILE

    @property
    def splits_file(self) -> Path:
        return self.directory / SPLITS_FILE

    @property
    def study_file(self) -> Path:
        return self.directory / STUDY_FILE

    @property
    def cv(self) -> CVFolder:
        return CVFolder(self.directory / CV_DIR)

    def trial_dir(self, trial_id: str) -> Path:
        return self.directory / trial_dirname(trial_id)

    def train_run_dir(self, trial_id: str) -> Path:
        """A Train-path trial's Ray Train storage (its checkpoints)."""
        return self.directory / TRAIN_DIR / f"train-{trial_id}"

    def latest_state(self, trial_id: str) -> Path | None:
        """The trial's latest checkpoint ``state.pt`` (either execution path), or ``None``."""
        found = sorted(self.trial_dir(trial_id).glob(f"checkpoint_*/{STATE_FILE}")) or sorted(
            self.train_run_dir(trial_id).glob(f"checkpoint_*/{STATE_FILE}")
        )
        return found[-1] if found else None

    @staticmethod
    def is_experiment(path: Path) -> bool:
        return (path / EXPERIMENT_FILE).is_file()
