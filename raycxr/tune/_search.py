"""A search from start to end: prepare the data once, run Tune, write results.

Everything that can be wrong with the input is checked first by :func:`raycxr.tune.plan_search`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from ray import tune

from raycxr.data import Split, relative_files
from raycxr.experiment import EXPERIMENT_FILE, RECORD_FILES, SEARCH_ROWS_FILE, TRAIN_DIR, write_atomic, write_json
from raycxr.losses import loss_spec
from raycxr.run import (
    Partition,
    create_partition,
    dev_split,
    load_partition,
    put_images,
    ray_session,
    search_leakage,
    trainable,
)
from raycxr.train import TrainConfig, split_statistics
from raycxr.tune._console import tune_output
from raycxr.tune._enqueue import describe
from raycxr.tune._finish import SearchResult, finish
from raycxr.tune._nested import outer_folds, run_nested
from raycxr.tune._plan import demo_data, plan_search
from raycxr.tune._searcher import new_tuner
from raycxr.tune._settings import TuneSettings
from raycxr.tune._storage import upload
from raycxr.tune._trial import ExperimentData, TrialConfigs, search_job


def run_search(settings: TuneSettings) -> SearchResult:
    """Run (or resume) a search end to end and write its results.

    Raises:
        ValueError: Bad input, before any trial starts.
    """
    plan = plan_search(settings)
    settings = plan.settings
    scaling = settings.scaling()
    local_storage = None if settings.is_uri else plan.directory
    if plan.data is None:
        plan = dataclasses.replace(plan, data=demo_data(settings))
    cfg = plan.train_config()
    sizes = plan.space.possible_values("image_size", plan.base)
    if cfg.image_size not in sizes:  # searched: the partition (and its audit) at the smallest size
        cfg = cfg.model_copy(update={"image_size": min(sizes)})
    losses = plan.space.possible_values("loss", plan.base)  # each checked against the task before decoding
    if settings.resume:
        partition = load_partition(cfg, plan.directory, losses)
    else:  # the dev/test partition is made once, here, and read by everything after
        spec = settings.test_spec(group=cfg.split == "group")
        partition = create_partition(cfg, spec, plan.directory, settings.dedupe, losses)
    if settings.nested:
        outer_folds(partition, cfg, settings.nested)  # enough groups for the outer folds, before Ray starts
    split = dev_split(partition, cfg)  # trials train and select on dev; they never see a test row
    attention = any(loss_spec(name).needs_stats for name in losses)
    stats = split_statistics(partition, split, cfg) if attention else None
    _write_search_rows(plan.directory, partition, split, cfg)
    quiet = not settings.verbose
    with (
        tune_output(settings.verbose),
        ray_session(settings.address, scaling, settings.max_concurrent, local_storage, quiet=quiet) as concurrency,
    ):
        if not settings.resume:
            record = {
                "settings": settings.model_dump(mode="json"),
                "space": plan.space.model_dump(mode="json"),
                "classes": list(partition.classes),  # in label (output) order: what every model predicts
            }
            if partition.index.multilabel:
                record["multilabel"] = True  # classes are labels, each with its own sigmoid output
            if plan.points:
                record["enqueued"] = list(plan.points)  # what --enqueue ran first (a file may change later)
            write_json(plan.directory / EXPERIMENT_FILE, record)
            if settings.is_uri:
                upload(plan.directory, plan.experiment_path, RECORD_FILES)
        print(f"Experiment: {plan.experiment_path}", flush=True)
        print(f"TensorBoard: tensorboard --logdir {plan.experiment_path}", flush=True)
        path = "Ray Train runs (TorchTrainer)" if scaling.uses_train else "in the trial (actors reused)"
        goal = (
            "objectives " + ", ".join(f"{o.metric} ({o.mode})" for o in plan.objectives) + f", sampler {plan.sampler}"
            if plan.multi
            else f"objective {plan.metric} ({plan.mode})"
        )
        if plan.constraints:
            goal += "; constraints " + ", ".join(map(str, plan.constraints))
        print(
            f"{plan.num_samples} trials, at most {concurrency} at a time, {settings.workers_per_trial} worker(s) each, "
            f"trained {path}; {goal}; "
            f"{len(split.train)} training and {len(split.val)} validation images (dev); "
            f"{len(partition.test)} test images kept untouched.",
            flush=True,
        )
        if plan.points:
            print(f"First trials (--enqueue {settings.enqueue}):\n{describe(plan.points)}", flush=True)
        for note in plan.notes:
            print(f"  note: the space trains with {note}", flush=True)
        if settings.nested:
            return SearchResult(plan, pd.DataFrame(), None, False, run_nested(plan, partition, scaling, concurrency))
        configs = TrialConfigs(plan.space, plan.base)
        data = ExperimentData(
            images=put_images(partition, cfg, sizes),
            labels=partition.labels,
            classes=partition.classes,
            split=split,
            stats=stats,
            configs=configs,
            measure=plan.measure,
            stoppable=settings.scheduler != "none",
        )
        runs = trainable(search_job, data, scaling, f"{plan.experiment_path}/{TRAIN_DIR}")
        if settings.resume:
            tuner = tune.Tuner.restore(plan.experiment_path, runs, resume_unfinished=True, resume_errored=False)
        else:
            tuner = new_tuner(plan, runs, configs, concurrency, cfg.epochs)
        tuner.fit()
    return finish(plan)


def _write_search_rows(directory: Path, partition: Partition, split: Split, cfg: TrainConfig) -> None:
    """``search_rows.csv``: the files every trial trains (``train``) and validates and is selected on (``val``)."""
    files = relative_files(partition.index, cfg.data)
    frame = pd.concat(
        [pd.DataFrame({"part": part, "file": [files[r] for r in rows]}) for part, rows in
         (("train", split.train), ("val", split.val))]
    )  # fmt: skip
    write_atomic(directory / SEARCH_ROWS_FILE, frame.to_csv(index=False))
    print(search_leakage(directory, partition, split, cfg), flush=True)  # duplicates across train/val
