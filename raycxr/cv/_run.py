"""Run every (configuration, fold) through the run layer, in parallel, resumable.

Tune is the executor: a grid over configuration × fold, each grid point a run of
:func:`raycxr.train.fit` (in the trial, or a Ray Train run: :mod:`raycxr.run` decides) that
checkpoints every epoch. An interrupted CV restores with ``Tuner.restore``: finished runs
are kept, unfinished ones continue from their checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from ray import tune

from raycxr.data import Split
from raycxr.evaluation import DecisionRule
from raycxr.experiment import (
    CV_DIR,
    CV_RECORD,
    EVALUATION_FILE,
    FINAL_FILE,
    METRICS_FILE,
    MODEL_FILE,
    TRAIN_DIR,
    jsonable,
    read_json,
    write_json,
)
from raycxr.losses import ClassStats, loss_spec
from raycxr.run import (
    ImageStore,
    RunContext,
    Scaling,
    checkpoint_config,
    result_checkpoint,
    result_files,
    trainable,
    tune_config_options,
)
from raycxr.train import FitState, TrainConfig, fit, scalars
from raycxr.tune import error_reason


@dataclasses.dataclass(frozen=True)
class CVData:
    """What every (configuration, fold) run reads; the images by reference."""

    images: dict[int, ImageStore]  #: per image size a configuration trains at
    labels: np.ndarray
    classes: tuple[str, ...]
    splits: list[Split]
    stats: list[ClassStats]
    configs: dict[str, dict[str, Any]]
    refit: bool = False  #: the last split is the refit on dev, scored on the untouched test set


@torch.no_grad()
def _embed(model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, batch: int = 64) -> torch.Tensor:
    """Penultimate-layer features of ``rows`` (for t-SNE)."""
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.embed(torch.from_numpy(images[rows[i : i + batch]]).to(device)).cpu() for i in range(0, len(rows), batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0)


def cv_job(params: dict[str, Any], data: CVData, context: RunContext) -> None:
    """Train one configuration on one split (a CV fold, or the refit); the last report carries test results."""
    cfg = TrainConfig(**data.configs[params["config"]])
    split = data.splits[params["fold"]]
    images = data.images[cfg.image_size].get()
    stats = data.stats[params["fold"]] if loss_spec(cfg.loss).needs_stats else None

    def on_epoch(row: dict[str, float], state: FitState, is_best: bool) -> None:
        context.report(row, state.state_dict())

    done = context.restored(FINAL_FILE, METRICS_FILE, EVALUATION_FILE)
    if done is not None:  # the run had ended, but the interrupted CV had not recorded it
        context.report(done[FINAL_FILE], None, done)
        return
    resume = context.restored_state()
    result = fit(cfg, images, data.labels, data.classes, split, stats, None, on_epoch, resume=resume)
    final = {**result.history[-1], "final": 1.0, **scalars(result.test, "test")}

    def rows(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(values, dtype=np.int64))

    # The rows this run trained, validated and tested on, recorded by the run itself.
    evaluation = {
        "train_rows": rows(split.train),
        "val_rows": rows(split.val),
        "val_proba": torch.from_numpy(result.probabilities["val"]),
        "test_rows": rows(split.test),
        "test_proba": torch.from_numpy(result.probabilities["test"]),
        "test_embedding": _embed(result.model, images, split.test),
    }
    if result.rule is not None and "test" in result.logits:  # scored and judged as predict would
        verdict = result.rule.ood_verdict(result.logits["test"], evaluation["test_embedding"].flatten(1).numpy())
        evaluation["test_ood_score"] = torch.from_numpy(verdict.scores)
        if verdict.threshold is not None:
            evaluation["test_ood_flagged"] = torch.from_numpy(verdict.flagged)
    metrics = {
        "test": result.test,
        "decision": result.rule.to_dict() if result.rule is not None else None,  # decided on this run's validation
        "history": result.history,
        "best_epoch": result.best_epoch,
        "sizes": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
    }
    files = {EVALUATION_FILE: evaluation, METRICS_FILE: metrics, FINAL_FILE: final}
    if data.refit and params["fold"] == len(data.splits) - 1:
        files[MODEL_FILE] = result.model.state_dict()
    context.report(final, None, files)


@dataclasses.dataclass
class FoldRun:
    """The outcome of one (configuration, fold) run."""

    config: str
    fold: int
    refit: bool
    error: str
    metrics: dict[str, Any] | None
    evaluation: dict[str, np.ndarray] | None
    history: pd.DataFrame
    model_state: dict[str, torch.Tensor] | None = None  #: the refit's weights
    checkpoint: str | None = None  #: the run's last checkpoint (a local path or a URI)

    @property
    def rule(self) -> DecisionRule | None:
        """The run's decision rule (decided on its validation slice), applied to its test metrics."""
        values = (self.metrics or {}).get("decision")
        return DecisionRule.from_dict(values) if values else None


def execute(
    directory: Path, data: CVData, folds: int, scaling: Scaling, concurrency: int, record: dict[str, Any]
) -> list[FoldRun]:
    """Run (or resume) the grid in ``directory/cv`` and collect every run's outcome."""
    cv_dir = directory / CV_DIR
    runs_of = trainable(cv_job, data, scaling, str(cv_dir / TRAIN_DIR))
    record_file = cv_dir / CV_RECORD
    if record_file.is_file() and tune.Tuner.can_restore(str(cv_dir)):
        stored = read_json(record_file)
        if stored != jsonable(record):
            changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != jsonable(record).get(k))
            raise ValueError(
                f"{cv_dir} holds a cross-validation with other settings ({', '.join(changed)}); "
                "remove it or keep the settings to resume it."
            )
        tuner = tune.Tuner.restore(str(cv_dir), runs_of, resume_unfinished=True, resume_errored=True)
    else:
        cv_dir.mkdir(parents=True, exist_ok=True)
        write_json(record_file, record)
        tuner = tune.Tuner(
            runs_of,
            param_space={"config": tune.grid_search(list(data.configs)), "fold": tune.grid_search(list(range(folds)))},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=concurrency,
                trial_dirname_creator=lambda t: f"{t.config['config']}_{_run_name(t, data)}_{t.trial_id}",
                **tune_config_options(scaling),
            ),
            run_config=tune.RunConfig(
                name=CV_DIR, storage_path=str(directory), checkpoint_config=checkpoint_config(), verbose=1
            ),
        )
    results = tuner.fit()
    runs = []
    for result in results:
        config, fold = result.config["config"], int(result.config["fold"])
        refit = data.refit and fold == len(data.splits) - 1
        history = result.metrics_dataframe if result.metrics_dataframe is not None else pd.DataFrame()
        if "final" in history:
            history = history[history["final"].isna()]
        files = result_files(result, METRICS_FILE, EVALUATION_FILE) if result.error is None else None
        if files is None:
            reason = error_reason(str(result.error)) if result.error is not None else "no result"
            runs.append(FoldRun(config, fold, refit, reason, None, None, history))
            continue
        metrics = files[METRICS_FILE]
        evaluation = {k: v.numpy() for k, v in files[EVALUATION_FILE].items()}
        state = (result_files(result, MODEL_FILE) or {}).get(MODEL_FILE) if refit else None
        runs.append(FoldRun(config, fold, refit, "", metrics, evaluation, history, state, result_checkpoint(result)))
    return sorted(runs, key=lambda r: (list(data.configs).index(r.config), r.fold))


def _run_name(trial: Any, data: CVData) -> str:
    fold = int(trial.config["fold"])
    return "refit" if data.refit and fold == len(data.splits) - 1 else f"fold{fold}"
