"""Nested cross-validation: the whole search inside each outer fold, each winner scored on its fold.

The CV of :mod:`raycxr.cv` scores configurations a search chose on the very images it
cross-validates on, so a searched configuration's CV mean is optimistic. Nested CV
estimates the whole tune-then-train *procedure* instead: dev is cut into K outer folds;
for each, a complete search (``--num-samples`` trials, its own Tune experiment and Optuna
study) trains on the other folds' training rows and selects on their validation rows, and
its winner — chosen by the inner objective alone — is scored once on the outer fold's test
rows. The K scores are the unbiased estimate. The experiment's test set stays untouched.

Every outer search is an ordinary search in ``EXPERIMENT/nested/outer<k>/`` and resumes
like one; an outer fold whose winner was scored (``winner.json``) is not run again.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ray import tune

from raycxr.data import Split, multilabel_folds, relative_files, stratified_folds
from raycxr.evaluation import DecisionRule
from raycxr.experiment import (
    NESTED_DIR,
    NESTED_FILE,
    OUTER_LEAKAGE_FILE,
    OUTER_ROWS_FILE,
    TRAIN_DIR,
    WINNER_FILE,
    Experiment,
    read_json,
    write_atomic,
    write_json,
)
from raycxr.losses import loss_spec
from raycxr.run import Partition, Scaling, fold_leakage, images_at, put_images, trainable
from raycxr.train import TrainConfig, evaluate_state, scalars, split_statistics
from raycxr.tune._finish import finish
from raycxr.tune._plan import SearchPlan
from raycxr.tune._searcher import new_tuner
from raycxr.tune._trial import ExperimentData, TrialConfigs, search_job


def outer_folds(partition: Partition, cfg: TrainConfig, k: int) -> list[Split]:
    """K outer folds of dev (the experiment's split kind and seed): inner train / inner val / outer test.

    Raises:
        ValueError: Fewer than 2 folds, or fewer groups than folds for a group split.
    """
    if k < 2:
        raise ValueError(f"--nested must be at least 2 outer folds, got {k}.")
    groups = partition.groups if cfg.split == "group" else None
    folds = multilabel_folds if partition.index.multilabel else stratified_folds
    return folds(partition.labels, k, cfg.val_fraction, cfg.seed, groups, rows=partition.dev)


def _latest_state(outer_dir: Path, trial_id: str) -> Path:
    found = Experiment(outer_dir).latest_state(trial_id)
    if found is None:
        raise RuntimeError(f"{outer_dir}: no checkpoint of the winning trial {trial_id}.")
    return found


def run_nested(plan: SearchPlan, partition: Partition, scaling: Scaling, concurrency: int) -> pd.DataFrame:
    """Run (or resume) the K outer searches and score each winner; write ``nested.csv``.

    Args:
        plan: The checked search plan (its settings carry ``nested``).
        partition: The experiment's dev/test partition.
        scaling: Resources of every trial.
        concurrency: Trials at a time within an outer search.
    """
    settings = plan.settings
    cfg = plan.train_config()
    configs = TrialConfigs(plan.space, plan.base)
    images = put_images(partition, cfg, plan.space.possible_values("image_size", plan.base))
    rows = []
    folds = outer_folds(partition, cfg, settings.nested)
    print(fold_leakage(plan.directory, partition, cfg, folds, "Nested outer folds", OUTER_LEAKAGE_FILE), flush=True)
    for k, fold in enumerate(folds):
        outer_dir = plan.directory / NESTED_DIR / f"outer{k}"
        winner_file = outer_dir / WINNER_FILE
        if winner_file.is_file():
            rows.append(read_json(winner_file))
            continue
        outer_dir.mkdir(parents=True, exist_ok=True)
        files = relative_files(partition.index, cfg.data)
        parts = (("train", fold.train), ("val", fold.val), ("outer_test", fold.test))
        record = pd.concat([pd.DataFrame({"part": name, "file": [files[r] for r in rows_]}) for name, rows_ in parts])
        write_atomic(outer_dir / OUTER_ROWS_FILE, record.to_csv(index=False))
        inner = Split(train=fold.train, val=fold.val, test=fold.test[:0])  # the outer test rows stay out
        attention = any(loss_spec(name).needs_stats for name in plan.space.possible_values("loss", plan.base))
        data = ExperimentData(
            images=images,
            labels=partition.labels,
            classes=partition.classes,
            split=inner,
            stats=split_statistics(partition, inner, cfg) if attention else None,
            configs=configs,
            measure=plan.measure,
            stoppable=plan.settings.scheduler != "none",
        )
        sub = dataclasses.replace(plan, name=f"outer{k}", storage=str(outer_dir.parent), directory=outer_dir)
        runs = trainable(search_job, data, scaling, f"{sub.experiment_path}/{TRAIN_DIR}")
        print(f"Nested CV: outer fold {k + 1}/{len(folds)}, {len(fold.test)} outer test images", flush=True)
        if tune.Tuner.can_restore(sub.experiment_path):
            tuner = tune.Tuner.restore(sub.experiment_path, runs, resume_unfinished=True, resume_errored=False)
        else:
            tuner = new_tuner(sub, runs, configs, concurrency, cfg.epochs)
        tuner.fit()
        result = finish(sub)
        if result.best is None or result.interrupted:
            raise RuntimeError(f"outer fold {k}: the inner search did not finish; run the command again to resume.")
        best = result.best
        trial_cfg = TrainConfig(**{**best["train_config"], "data": cfg.data})  # as the trial recorded it
        state = torch.load(_latest_state(outer_dir, best["trial_id"]), weights_only=True)
        rule = DecisionRule.from_dict(state["best_rule"])  # decided on the inner validation rows
        at_size = images_at(partition, cfg, trial_cfg.image_size)
        metrics, _ = evaluate_state(
            trial_cfg, state["best_model"], at_size, partition.labels, partition.classes, fold.test, rule
        )
        row = {
            "outer_fold": k,
            "winner": best["trial_id"],
            "inner_" + plan.metric: best["value"],
            **{f"param_{p}": v for p, v in best["params"].items()},
            **scalars(metrics, "outer_test"),
            "n_outer_test": len(fold.test),
            "n_inner_train": len(fold.train),
            "n_inner_val": len(fold.val),
        }
        write_json(winner_file, row)
        rows.append(row)
    table = pd.DataFrame(rows)
    write_atomic(plan.directory / NESTED_FILE, table.to_csv(index=False))
    return table


def nested_summary(table: pd.DataFrame) -> str:
    """``outer_test_f1_macro: mean ± std over K outer folds`` and each fold's winner."""
    f1 = table["outer_test_f1_macro"].tolist()
    spread = statistics.stdev(f1) if len(f1) > 1 else float("nan")
    other = (  # multi-label folds have no accuracy: their macro AUC
        f"accuracy {table['outer_test_accuracy'].mean():.4f}" if "outer_test_accuracy" in table
        else f"macro AUC {table['outer_test_auc_ovr_macro'].mean():.4f}"
    )  # fmt: skip
    lines = [
        f"Nested CV ({len(f1)} outer folds): macro-F1 of the tuned procedure {np.mean(f1):.4f} ± {spread:.4f} "
        f"({other}); each outer fold's winner:"
    ]
    params = [c for c in table.columns if c.startswith("param_")]
    for row in table.itertuples(index=False):
        values = ", ".join(f"{p.removeprefix('param_')}={getattr(row, p)}" for p in params)
        lines.append(
            f"  outer {row.outer_fold}: trial {row.winner}, "
            f"outer-test macro-F1 {row.outer_test_f1_macro:.4f} ({values})"
        )
    return "\n".join(lines)
