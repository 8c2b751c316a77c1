"""Run every (configuration, fold) as a Ray Train run, in parallel, resumable.

Tune is the executor: a grid over configuration × fold, each grid point a Ray Train run
of :func:`raycxr.train.fit` that checkpoints every epoch. An interrupted CV restores with
``Tuner.restore``: finished runs are kept, unfinished ones continue from their checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import torch
from ray import tune

from raycxr.data import Split
from raycxr.losses import ClassStats
from raycxr.train import FitState, TrainConfig, fit, prepare_data, scalars, split_statistics
from raycxr.train._cli import jsonable
from raycxr.tune._results import error_reason
from raycxr.tune._search import TRIAL_DRIVER_RESOURCES
from raycxr.tune._trial import Scaling, quiet_train_logs, report, resume_state, train_run

EVALUATION_FILE = "evaluation.pt"
METRICS_FILE = "metrics.json"
FINAL_FILE = "final.json"  #: the run's last report, said again if it is restarted after it ended
CV_RECORD = "cv.json"


@dataclasses.dataclass(frozen=True)
class CVData:
    """What every (configuration, fold) run reads; the images by reference."""

    images: ray.ObjectRef
    labels: np.ndarray
    classes: tuple[str, ...]
    splits: list[Split]
    holdout: np.ndarray
    stats: list[ClassStats]
    configs: dict[str, dict[str, Any]]
    scaling: Scaling
    train_storage: str


@torch.no_grad()
def _embed(model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, batch: int = 64) -> torch.Tensor:
    """Penultimate-layer features of ``rows`` (for t-SNE)."""
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.embed(torch.from_numpy(images[rows[i : i + batch]]).to(device)).cpu() for i in range(0, len(rows), batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0)


def cv_worker(loop_config: dict[str, Any]) -> None:
    """Train one configuration on one fold; the last report carries test (and holdout) results."""
    quiet_train_logs()
    data: CVData = loop_config["data"]
    cfg = TrainConfig(**data.configs[loop_config["config"]])
    split = data.splits[loop_config["fold"]]
    images = ray.get(data.images)
    stats = data.stats[loop_config["fold"]] if cfg.loss == "attention" else None

    def on_epoch(row: dict[str, float], state: FitState, is_best: bool) -> None:
        report(row, state.state_dict())

    done = _finished_run()
    if done is not None:  # the run had ended, but the interrupted CV had not recorded it
        report(done[FINAL_FILE], None, done)
        return
    holdout = data.holdout if len(data.holdout) else None
    result = fit(cfg, images, data.labels, data.classes, split, stats, holdout, on_epoch, resume=resume_state())
    final = {**result.history[-1], "final": 1.0, **scalars(result.test, "test")}
    if result.holdout is not None:
        final |= scalars(result.holdout, "holdout")
    evaluation = {
        "test_rows": torch.from_numpy(np.asarray(split.test)),
        "test_proba": torch.from_numpy(result.probabilities["test"]),
        "test_embedding": _embed(result.model, images, split.test),
    }
    if holdout is not None:
        evaluation |= {
            "holdout_rows": torch.from_numpy(holdout),
            "holdout_proba": torch.from_numpy(result.probabilities["holdout"]),
        }
    metrics = {
        "test": result.test,
        "holdout": result.holdout,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "sizes": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
    }
    report(final, None, {EVALUATION_FILE: evaluation, METRICS_FILE: metrics, FINAL_FILE: final})


def _finished_run() -> dict[str, Any] | None:
    """The files of this run's final checkpoint when it has one (it ended before a restart)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        path = Path(directory)
        if not (path / FINAL_FILE).is_file():
            return None
        return {
            FINAL_FILE: json.loads((path / FINAL_FILE).read_text()),
            METRICS_FILE: json.loads((path / METRICS_FILE).read_text()),
            EVALUATION_FILE: torch.load(path / EVALUATION_FILE, weights_only=True),
        }


def run_cv_trial(params: dict[str, Any], data: CVData) -> None:
    """Tune's trainable for one grid point ``{"config": name, "fold": k}``."""
    train_run(cv_worker, {**params, "data": data}, data.scaling, data.train_storage)


@dataclasses.dataclass
class FoldRun:
    """The outcome of one (configuration, fold) run."""

    config: str
    fold: int
    error: str
    metrics: dict[str, Any] | None
    evaluation: dict[str, np.ndarray] | None
    history: pd.DataFrame


def prepare_folds(cfg: TrainConfig, configs: dict[str, dict[str, Any]]) -> tuple[Any, list[ClassStats]]:
    """Decode and split once; class statistics of each fold's training rows (attention loss)."""
    prepared = prepare_data(cfg)
    attention = any(settings.get("loss", "attention") == "attention" for settings in configs.values())
    stats = [split_statistics(prepared, split, cfg) for split in prepared.splits] if attention else []
    return prepared, stats


def execute(directory: Path, data: CVData, folds: int, concurrency: int, record: dict[str, Any]) -> list[FoldRun]:
    """Run (or resume) the grid in ``directory/cv`` and collect every run's outcome."""
    cv_dir = directory / "cv"
    trainable = tune.with_resources(tune.with_parameters(run_cv_trial, data=data), TRIAL_DRIVER_RESOURCES)
    record_file = cv_dir / CV_RECORD
    if record_file.is_file() and tune.Tuner.can_restore(str(cv_dir)):
        stored = json.loads(record_file.read_text())
        if stored != jsonable(record):
            changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != jsonable(record).get(k))
            raise ValueError(
                f"{cv_dir} holds a cross-validation with other settings ({', '.join(changed)}); "
                "remove it or keep the settings to resume it."
            )
        tuner = tune.Tuner.restore(str(cv_dir), trainable, resume_unfinished=True, resume_errored=True)
    else:
        cv_dir.mkdir(parents=True, exist_ok=True)
        record_file.write_text(json.dumps(jsonable(record), indent=2))
        tuner = tune.Tuner(
            trainable,
            param_space={"config": tune.grid_search(list(data.configs)), "fold": tune.grid_search(list(range(folds)))},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=concurrency,
                trial_dirname_creator=lambda t: f"{t.config['config']}_fold{t.config['fold']}_{t.trial_id}",
            ),
            run_config=tune.RunConfig(name="cv", storage_path=str(directory), verbose=1),
        )
    results = tuner.fit()
    runs = []
    for result in results:
        config, fold = result.config["config"], int(result.config["fold"])
        history = result.metrics_dataframe if result.metrics_dataframe is not None else pd.DataFrame()
        if "final" in history:
            history = history[history["final"].isna()]
        if result.error is not None or not result.metrics or "checkpoint_path" not in result.metrics:
            reason = error_reason(str(result.error)) if result.error is not None else "no result"
            runs.append(FoldRun(config, fold, reason, None, None, history))
            continue
        with ray.train.Checkpoint(result.metrics["checkpoint_path"]).as_directory() as path:
            metrics = json.loads((Path(path) / METRICS_FILE).read_text())
            loaded = torch.load(Path(path) / EVALUATION_FILE, weights_only=True)
        evaluation = {k: v.numpy() for k, v in loaded.items()}
        runs.append(FoldRun(config, fold, "", metrics, evaluation, history))
    return sorted(runs, key=lambda r: (list(data.configs).index(r.config), r.fold))
