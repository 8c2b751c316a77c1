"""``run_cv``: cross-validate the best trials of a search and the paper's baselines, then report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from raycxr.cv._configs import BASELINES, REFERENCE, configurations, read_experiment
from raycxr.cv._report import (
    comparisons_table,
    folds_table,
    plot_confusion,
    plot_learning_curves,
    plot_roc,
    plot_search,
    plot_tsne,
    summary_table,
    write_report,
)
from raycxr.cv._run import CVData, FoldRun, execute, prepare_folds
from raycxr.data import fold_files_in, index_dataset, read_fold_files
from raycxr.run import Scaling, ray_session
from raycxr.train import TrainConfig
from raycxr.tune import DEFAULT_METRIC, STUDY_FILE, SearchSpace, TuneSettings, demo_data


class CVSettings(BaseModel):
    """Every option of ``python -m raycxr.cv``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: Path = Field(description="the search's experiment folder (STORAGE/NAME)")
    top_k: int = Field(3, ge=0, description="cross-validate the k best trials of the search")
    folds: int | None = Field(None, description="number of folds (default: the search's 'folds' setting)")
    folds_csv: Path | None = Field(None, description="folder of predefined fold*.csv files (the paper's folds)")
    split: Literal["stratified", "group"] = Field("stratified", description="fold kind when no --folds-csv")
    baselines: str = Field(
        "all", description=f"baselines to add: 'all', 'none' or a comma list of {', '.join(BASELINES)}"
    )
    workers_per_trial: int = Field(1, ge=1, description="Ray Train workers per (configuration, fold) run")
    cpus_per_worker: float = Field(1.0, ge=0, description="CPUs per worker (0 only with GPUs, function path)")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per worker")
    trainer: Literal["auto", "function", "train"] = Field(
        "auto", description="'auto': one-worker runs train in the Tune trial, several workers as Ray Train runs"
    )
    max_concurrent: int | None = Field(None, ge=1, description="runs at a time (default: what the cluster holds)")
    address: str | None = Field(None, description="Ray cluster to attach to; default: local Ray")

    @field_validator("baselines")
    @classmethod
    def _known_baselines(cls, value: str) -> str:
        unknown = set(baseline_names(value)) - set(BASELINES)
        if unknown:
            raise ValueError(f"unknown baseline(s) {sorted(unknown)}; expected 'all', 'none' or {list(BASELINES)}")
        return value


    def scaling(self) -> Scaling:
        """Resources and execution path of each run (raises ``ValueError`` for a bad combination)."""
        return Scaling(self.workers_per_trial, self.cpus_per_worker, self.gpus_per_worker, trainer=self.trainer)


def baseline_names(value: str) -> list[str]:
    """``all`` / ``none`` / ``a,b`` → the baseline names."""
    if value == "all":
        return list(BASELINES)
    if value == "none":
        return []
    return [name.strip() for name in value.split(",") if name.strip()]


@dataclasses.dataclass
class CVResult:
    out: Path
    runs: list[FoldRun]
    best: str
    report: Path


def _train_config(settings: CVSettings, search: TuneSettings, configs: dict[str, dict[str, Any]]) -> TrainConfig:
    """The data/split configuration of the CV, every configuration checked with it.

    Raises:
        ValueError: Bad folds or a configuration that cannot train (one line, naming it).
    """
    first = next(iter(configs.values()))
    folds = settings.folds if settings.folds is not None else first.get("folds", 10)
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}.")
    split: dict[str, Any] = {"folds": folds, "fold": 0, "split": settings.split}
    if settings.folds_csv is not None:
        if not settings.folds_csv.is_dir():
            raise ValueError(f"--folds-csv: {settings.folds_csv} is not a folder of fold*.csv files.")
        split |= {"split": "predefined", "folds_dir": settings.folds_csv}
    data = search.data if search.data is not None else None
    for name, values in configs.items():
        try:
            TrainConfig(**{**values, **split, "data": data}).check()
        except ValueError as error:
            raise ValueError(f"configuration {name!r}: {error}".replace("\n", "; ")) from None
    return TrainConfig(**{**first, **split, "data": data})


def run_cv(settings: CVSettings) -> CVResult:
    """Cross-validate, then write ``EXPERIMENT/cv/``: report.md, folds.csv, summary.csv, figures.

    Raises:
        ValueError: Bad input, before any training.
    """
    directory = settings.experiment.expanduser().resolve()
    if not directory.is_dir():
        raise ValueError(f"experiment folder {directory} does not exist.")
    record, trials = read_experiment(directory)
    search = TuneSettings(**record["settings"])
    space = SearchSpace(**record["space"])
    metric = search.metric or space.search.metric or DEFAULT_METRIC
    mode = search.mode or space.search.mode or ("min" if metric.endswith("loss") else "max")
    configs = configurations(
        record, trials, metric, mode, settings.top_k, baseline_names(settings.baselines), directory
    )
    if not configs:
        raise ValueError("nothing to cross-validate: --top-k 0 and --baselines none.")
    cfg = _train_config(settings, search, configs)
    if settings.folds_csv is not None and settings.folds is not None:
        raise ValueError("give --folds or --folds-csv, not both (the fold files decide the number of folds).")
    if settings.folds_csv is not None and cfg.data is not None:  # cheap: bad fold files fail before Ray
        read_fold_files(index_dataset(cfg.data), fold_files_in(settings.folds_csv))

    scaling = settings.scaling()
    with ray_session(settings.address, scaling, settings.max_concurrent, directory, "experiment folder") as concurrency:
        if cfg.data is None:
            cfg = cfg.model_copy(update={"data": demo_data(search)})
        prepared, stats = prepare_folds(cfg, configs)
        folds = len(prepared.splits)
        data_settings = {"data": cfg.data, "folds": cfg.folds, "split": cfg.split, "folds_dir": cfg.folds_dir}
        configs = {name: {**values, **data_settings} for name, values in configs.items()}
        data = CVData(
            images=ray.put(prepared.images),
            labels=prepared.labels,
            classes=prepared.classes,
            splits=prepared.splits,
            holdout=prepared.holdout,
            stats=stats,
            configs=configs,
        )
        record_cv = {"configs": configs, "folds": folds, "split": cfg.split, "folds_dir": cfg.folds_dir}
        print(
            f"Cross-validating {len(configs)} configurations × {folds} folds, at most {concurrency} runs at a time: "
            f"{', '.join(configs)}",
            flush=True,
        )
        runs = execute(directory, data, folds, scaling, concurrency, record_cv)
    return _report(directory, runs, prepared.labels, prepared.classes, cfg, len(prepared.holdout) > 0, search)


def _report(
    directory: Path,
    runs: list[FoldRun],
    labels: np.ndarray,
    classes: tuple[str, ...],
    cfg: TrainConfig,
    holdout: bool,
    search: TuneSettings,
) -> CVResult:
    out = directory / "cv"
    folds = folds_table(runs, classes)
    summary = summary_table(folds)
    names = list(dict.fromkeys(r.config for r in runs))
    comparisons = comparisons_table(folds, runs, REFERENCE)
    folds.to_csv(out / "folds.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    comparisons.to_csv(out / "comparisons.csv", index=False)
    f1 = summary[(summary["set"] == "test") & (summary["metric"] == "f1_macro")].set_index("config")["mean"]
    if not len(f1):
        raise ValueError(f"every cross-validation run failed; see {out}.")
    best = str(f1.idxmax())
    done = {name for name in names if any(r.config == name and r.metrics for r in runs)}
    figures = {
        "Confusion matrices": [
            plot_confusion(runs, n, classes, out / f"confusion_{n}.png") for n in names if n in done
        ],
        "ROC curves": [plot_roc(runs, n, labels, classes, out / f"roc_{n}.png") for n in names if n in done],
        "Learning curves": [plot_learning_curves(runs, n, out / f"learning_{n}.png") for n in names if n in done],
    }
    best_runs = [r for r in runs if r.config == best and r.metrics]
    best_fold = max(best_runs, key=lambda r: r.metrics["test"]["f1_macro"])
    figures["t-SNE of the feature layer"] = [plot_tsne(best_fold, labels, classes, cfg.seed, out / "tsne.png")]
    search_files, note = plot_search(directory / STUDY_FILE, search.name or directory.name, out)
    figures["Search (Optuna)"] = search_files
    context = {
        "experiment": directory.name,
        "folds": cfg.folds if cfg.split != "predefined" else len({r.fold for r in runs}),
        "split": cfg.split,
        "configs": names,
        "reference": REFERENCE,
        "best": best,
        "holdout": holdout,
        "search_note": note,
    }
    report = write_report(out, runs, folds, summary, comparisons, figures, context)
    return CVResult(out, runs, best, report)
