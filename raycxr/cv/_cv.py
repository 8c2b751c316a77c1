"""``run_cv``: cross-validate the best trials of a search and the paper's baselines, then report."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from raycxr.cv._configs import (
    BASELINES,
    MULTILABEL_REFERENCE,
    REFERENCE,
    baseline_names,
    configurations,
    default_baselines,
    read_experiment,
    search_base,
    selection_metric,
    selection_words,
)
from raycxr.cv._final import Predictions, final_test
from raycxr.cv._final_multilabel import final_test_multilabel
from raycxr.cv._refits import KeepRefits, restore_refit_states, write_refits, write_selection
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
from raycxr.cv._run import CVData, FoldRun, execute
from raycxr.data import AUTO, content_hash, get_dataset, relative_files
from raycxr.experiment import (
    COMPARISONS_FILE,
    CV_ROWS_FILE,
    FOLDS_FILE,
    FOLDS_LEAKAGE_FILE,
    PARETO_PNG,
    STUDY_FILE,
    SUMMARY_FILE,
    Experiment,
)
from raycxr.losses import check_loss_task, loss_spec
from raycxr.models import check_weights
from raycxr.run import (
    Partition,
    Scaling,
    cv_splits,
    fold_leakage,
    images_at,
    leaked_test,
    load_partition,
    put_images,
    ray_session,
    refit_split,
)
from raycxr.train import TrainConfig, split_statistics, task_index
from raycxr.tune import DEFAULT_METRIC, SearchSpace, TuneSettings, demo_data


class CVSettings(BaseModel):
    """Every option of ``python -m raycxr.cv``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: Path = Field(description="the search's experiment folder (STORAGE/NAME)")
    top_k: int = Field(3, ge=0, description="cross-validate the k best trials of the search")
    folds: int | None = Field(None, description="number of folds (default: the search's 'folds' setting)")
    folds_csv: Path | None = Field(None, description="folder of predefined fold*.csv files (the paper's folds)")
    split: Literal["stratified", "group"] | None = Field(
        None, description="fold kind when no --folds-csv (default: the search's)"
    )
    baselines: str | None = Field(
        None,
        description="baselines to add: 'all' (the paper's four; the default for a single-label task), 'table1' (the "
        "paper's Table 1 systems), 'course' (the CS 542 report's), 'none' (the default for a multi-label task), or a "
        f"comma list of names ({', '.join(BASELINES)}; 'bce' is the multi-label one)",
    )
    workers_per_trial: int = Field(1, ge=1, description="Ray Train workers per (configuration, fold) run")
    cpus_per_worker: float = Field(1.0, ge=0, description="CPUs per worker (0 only with GPUs, function path)")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per worker")
    trainer: Literal["auto", "function", "train"] = Field(
        "auto", description="'auto': one-worker runs train in the Tune trial, several workers as Ray Train runs"
    )
    max_concurrent: int | None = Field(None, ge=1, description="runs at a time (default: what the cluster holds)")
    address: str | None = Field(None, description="Ray cluster to attach to; default: local Ray")
    bootstrap: int = Field(1000, ge=100, description="bootstrap resamples of the test-set confidence intervals")
    keep_refits: KeepRefits = Field(
        "all",
        description="refit weights kept in cv/refits/ for predict and export: 'all' evaluated configurations, or "
        "only the 'selected' one (a VGG16 refit is ~0.5 GB, a MobileNetV2 one ~9 MB)",
    )

    set: list[str] = Field(
        default_factory=list,
        description="training setting KEY=VALUE for every configuration, baselines included (repeatable), "
        "e.g. weights=none offline",
    )

    @field_validator("baselines")
    @classmethod
    def _known_baselines(cls, value: str | None) -> str | None:
        if value is not None:
            baseline_names(value)  # ValueError naming an unknown one
        return value

    def overrides(self) -> dict[str, Any]:
        """``--set KEY=VALUE`` pairs, values parsed as YAML scalars."""
        values = {}
        for item in self.set:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
            values[key.strip().replace("-", "_")] = yaml.safe_load(text)
        return values

    def scaling(self) -> Scaling:
        """Resources and execution path of each run (raises ``ValueError`` for a bad combination)."""
        return Scaling(self.workers_per_trial, self.cpus_per_worker, self.gpus_per_worker, trainer=self.trainer)


@dataclasses.dataclass
class CVResult:
    out: Path
    runs: list[FoldRun]
    best: str
    report: Path
    selected_by: str = "mean CV macro-F1"  #: the selection criterion in words (:func:`selection_words`)


def _train_config(
    settings: CVSettings, search: TuneSettings, configs: dict[str, dict[str, Any]], multilabel: bool = False
) -> TrainConfig:
    """The data/split configuration of the CV, every configuration checked with it (its loss against the task).

    Raises:
        ValueError: Bad folds or a configuration that cannot train (one line, naming it).
    """
    first = next(iter(configs.values()))
    folds = settings.folds if settings.folds is not None else first.get("folds", 10)
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}.")
    split: dict[str, Any] = {"folds": folds, "fold": 0, "split": settings.split or first.get("split", "stratified")}
    if settings.folds_csv is not None:
        if not settings.folds_csv.is_dir():
            raise ValueError(f"--folds-csv: {settings.folds_csv} is not a folder of fold*.csv files.")
        split |= {"split": "predefined", "folds_dir": settings.folds_csv}
    data = search.data if search.data is not None else None
    weights_checked: set[tuple[str, str]] = set()  # each backbone's weights loaded once, not per configuration
    for name, values in configs.items():
        try:
            checked = TrainConfig(**{**values, **split, "data": data}).check()
            check_loss_task(checked.loss, multilabel)
            if (checked.backbone, checked.weights) not in weights_checked:
                check_weights(checked.backbone, checked.weights)
                weights_checked.add((checked.backbone, checked.weights))
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(f"configuration {name!r}: {error}".replace("\n", "; ")) from None
    return TrainConfig(**{**first, **split, "data": data})


def run_cv(settings: CVSettings) -> CVResult:
    """Cross-validate inside dev, refit on dev and score on test, then write ``EXPERIMENT/cv/``.

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
    data = search.data if search.data is not None else demo_data(search)
    # The task (its classes, its kind); each configuration's loss is checked against it in _train_config.
    task = task_index(TrainConfig(**{**space.fixed, **search_base(record), "data": data}), losses=())
    multilabel = task.multilabel
    names = baseline_names(settings.baselines or default_baselines(multilabel), len(task.classes), multilabel)
    configs = configurations(record, trials, metric, mode, settings.top_k, names, directory)
    if not configs:
        raise ValueError("nothing to cross-validate: --top-k 0 and --baselines none.")
    overrides = settings.overrides()
    configs = {name: {**values, **overrides} for name, values in configs.items()}
    if settings.folds_csv is not None and settings.folds is not None:
        raise ValueError("give --folds or --folds-csv, not both (the fold files decide the number of folds).")
    cfg = _train_config(settings, search, configs, task.multilabel)
    scaling = settings.scaling()
    if cfg.data is None:
        cfg = cfg.model_copy(update={"data": demo_data(search)})
    partition = load_partition(cfg, directory)  # the search's dev/test partition, checked against the data
    splits = cv_splits(partition, cfg)  # inside dev; fold files naming a test image fail here
    fold_note = fold_leakage(directory, partition, cfg, splits, "CV folds", FOLDS_LEAKAGE_FILE)
    folds = len(splits)
    if len(partition.test):
        splits.append(refit_split(partition, cfg))
    attention = any(loss_spec(values.get("loss", "attention")).needs_stats for values in configs.values())
    stats = [split_statistics(partition, split, cfg) for split in splits] if attention else []
    data_settings = {"data": cfg.data, "folds": cfg.folds, "split": cfg.split, "folds_dir": cfg.folds_dir}
    configs = {name: {**values, **data_settings} for name, values in configs.items()}
    with ray_session(settings.address, scaling, settings.max_concurrent, directory, "experiment folder") as concurrency:
        data = CVData(
            images=put_images(partition, cfg, {TrainConfig(**values).image_size for values in configs.values()}),
            labels=partition.labels,
            classes=partition.classes,
            splits=splits,
            stats=stats,
            configs=configs,
            refit=len(partition.test) > 0,
        )
        record_cv = {"configs": configs, "folds": folds, "split": cfg.split, "folds_dir": cfg.folds_dir}
        refit = f" + a refit on dev scored on {len(partition.test)} test images" if data.refit else ""
        print(
            f"Cross-validating {len(configs)} configurations × {folds} folds inside dev{refit}, at most "
            f"{concurrency} runs at a time: {', '.join(configs)}",
            flush=True,
        )
        runs = execute(directory, data, len(splits), scaling, concurrency, record_cv)
    return _report(directory, runs, partition, cfg, search, settings, configs, fold_note)


def _write_rows(out: Path, runs: list[FoldRun], partition: Partition, root: Path) -> None:
    """``cv/rows.csv``: the files each fold (and the refit) trained, validated and tested on, as the runs recorded.

    Every configuration's run of a fold must have used the same rows; one copy per fold is written.
    """
    files = np.array(relative_files(partition.index, root))
    seen: dict[int, dict[str, np.ndarray]] = {}
    frames = []
    for run in runs:
        if run.evaluation is None:
            continue
        parts = {part: run.evaluation[f"{part}_rows"] for part in ("train", "val", "test")}
        if run.fold in seen:
            if any(not np.array_equal(seen[run.fold][k], v) for k, v in parts.items()):
                raise RuntimeError(f"configuration {run.config!r} used other rows in fold {run.fold}.")
            continue
        seen[run.fold] = parts
        name = "refit" if run.refit else str(run.fold)
        frames += [pd.DataFrame({"fold": name, "part": part, "file": files[rows]}) for part, rows in parts.items()]
    if frames:
        pd.concat(frames).to_csv(out / CV_ROWS_FILE, index=False)


def _saliency(
    run: FoldRun, configs: dict[str, dict[str, Any]], partition: Partition, cfg: TrainConfig, out: Path
) -> list[str]:
    """Grad-CAM of the chosen configuration's refit model on test images, and the shortcut indicator."""
    if not run.refit or run.model_state is None or run.evaluation is None or not len(run.evaluation["test_rows"]):
        return []
    from raycxr.explain import saliency_section
    from raycxr.train import model_for

    run_cfg = TrainConfig(**configs[run.config])
    model = model_for(run_cfg, len(partition.classes), weights="none")
    model.load_state_dict(run.model_state)
    rows = run.evaluation["test_rows"]
    images = images_at(partition, cfg, run_cfg.image_size)[rows]
    files = relative_files(partition.index, cfg.data)
    return saliency_section(
        model.eval(), images, partition.labels[rows], run.evaluation["test_proba"], partition.classes, out,
        names=[Path(files[r]).name for r in rows], seed=cfg.seed,
    )  # fmt: skip


def _reference(multilabel: bool, names: list[str], selected: str) -> str:
    """The configuration the others are compared with: the paper's (single-label); a multi-label task's
    baseline when evaluated, else the selected configuration."""
    if not multilabel:
        return REFERENCE
    return MULTILABEL_REFERENCE if MULTILABEL_REFERENCE in names else selected


def _group_name(search: TuneSettings) -> str:
    """What one group of the dataset is, for the intervals' unit: ``patient`` when its groups are patients."""
    if search.dataset == AUTO:
        return "group"
    return "patient" if get_dataset(search.dataset)[0].groups.startswith("patients") else "group"


def _report(
    directory: Path,
    runs: list[FoldRun],
    partition: Partition,
    cfg: TrainConfig,
    search: TuneSettings,
    settings: CVSettings,
    configs: dict[str, dict[str, Any]],
    fold_note: str = "",
) -> CVResult:
    experiment = Experiment(directory)
    cv = experiment.cv
    out = cv.directory
    labels, classes = partition.labels, partition.classes
    multilabel = partition.index.multilabel
    criterion = selection_metric(multilabel)
    _write_rows(out, runs, partition, Path(cfg.data))
    cv_runs = [r for r in runs if not r.refit]
    refits = [r for r in runs if r.refit and r.evaluation is not None and r.rule is not None]
    restore_refit_states(cv, refits)
    folds = folds_table(cv_runs, classes, multilabel)
    summary = summary_table(folds)
    names = list(dict.fromkeys(r.config for r in runs))
    score = summary[(summary["set"] == "test") & (summary["metric"] == criterion)].set_index("config")["mean"]
    if not len(score):
        raise ValueError(f"every cross-validation run failed; see {out}.")
    selected = str(score.idxmax())  # chosen on dev: the test set plays no part in the choice
    reference = _reference(multilabel, names, selected)
    comparisons = comparisons_table(folds, cv_runs, reference)
    folds.to_csv(out / FOLDS_FILE, index=False)
    summary.to_csv(out / SUMMARY_FILE, index=False)
    comparisons.to_csv(out / COMPARISONS_FILE, index=False)
    final = None
    if refits:
        predictions = [
            Predictions(
                config=r.config,
                val_y=labels[r.evaluation["val_rows"]],
                val_proba=r.evaluation["val_proba"],
                test_rows=r.evaluation["test_rows"],
                test_y=labels[r.evaluation["test_rows"]],
                test_proba=r.evaluation["test_proba"],
                rule=r.rule,
                test_ood_flagged=r.evaluation.get("test_ood_flagged"),
            )
            for r in refits
        ]
        chosen = selected if any(p.config == selected for p in predictions) else predictions[0].config
        drawn_by = search.test_drawn_by(group=cfg.split == "group")
        leaked = leaked_test(directory, partition, cfg)
        if multilabel:
            final = final_test_multilabel(predictions, classes, partition.groups, reference, chosen, out,
                                          settings.bootstrap, cfg.seed, drawn_by, leaked,
                                          _group_name(search))  # fmt: skip
        else:
            final = final_test(predictions, classes, partition.groups, REFERENCE, chosen, out, settings.bootstrap,
                               cfg.seed, drawn_by, leaked)  # fmt: skip
    done = {name for name in names if any(r.config == name and r.metrics for r in cv_runs)}
    figures = {  # a multi-label task has no confusion matrix (an image has several labels) nor one class to colour by
        "Confusion matrices (CV)": [] if multilabel else [
            plot_confusion(cv_runs, n, classes, out / f"confusion_{n}.png") for n in names if n in done
        ],
        "ROC curves (CV)": [plot_roc(cv_runs, n, labels, classes, out / f"roc_{n}.png") for n in names if n in done],
        "Learning curves": [plot_learning_curves(runs, n, out / f"learning_{n}.png") for n in names if n in done],
    }  # fmt: skip
    best_runs = [r for r in refits if r.config == selected] or [
        max((r for r in cv_runs if r.config == selected and r.metrics), key=lambda r: r.metrics["test"][criterion])
    ]
    saliency: list[str] = []
    if not multilabel:
        figures["t-SNE of the feature layer"] = [plot_tsne(best_runs[0], labels, classes, cfg.seed, out / "tsne.png")]
        saliency = _saliency(best_runs[0], configs, partition, cfg, out)
    search_files, note = plot_search(experiment.file(STUDY_FILE), search.name or directory.name, out)
    if experiment.file(PARETO_PNG).is_file():  # a multi-objective search's front
        shutil.copyfile(experiment.file(PARETO_PNG), out / PARETO_PNG)
        search_files = [*search_files, PARETO_PNG]
    figures["Search (Optuna)"] = search_files
    context = {
        "experiment": directory.name,
        "folds": len({r.fold for r in cv_runs}),
        "split": cfg.split,
        "seed": cfg.seed,
        "configs": names,
        "searched": [n for n in names if n.startswith("top")],
        "reference": reference,
        "best": selected,
        "selection": selection_words(multilabel),
        "multilabel": multilabel,
        "uncertain": cfg.uncertain,
        "search_note": note,
        "counts": partition.manifest.counts(),
        "classes": classes,
        "test_spec": search.test_description(),
        "leakage": f"{partition.leakage_summary} {fold_note}".strip(),
        "data": str(cfg.data),
        "saliency": saliency,
    }
    report = write_report(out, runs, folds, summary, comparisons, figures, context, final)
    data_sha256 = content_hash(experiment.splits_file) if experiment.splits_file.is_file() else None
    kept = write_refits(cv, refits, configs, classes, selected, final, settings.keep_refits, data_sha256, multilabel)
    write_selection(cv, selected, names, kept, settings.keep_refits, test_set=bool(refits), multilabel=multilabel)
    return CVResult(out, runs, selected, report, selection_words(multilabel))
