"""The run layer search and cross-validation share: Ray start-up, resources, one trainable, one protocol.

A *run* trains one configuration on one split and reports every epoch with a checkpoint.
``raycxr.tune`` runs a searcher's trials through it, ``raycxr.cv`` a grid of configuration ×
fold; neither knows whether a run trains in its Tune trial (one worker, actors reused) or as
a Ray Train ``TorchTrainer`` (several workers, DDP).
"""

from __future__ import annotations

from raycxr.run._cluster import (
    check_address,
    check_shared_storage,
    check_uri_writable,
    cluster_concurrency,
    launcher_maximum,
    max_cluster_resources,
    start_ray,
)
from raycxr.run._context import RunContext, quiet_train_logs, result_checkpoint, result_files
from raycxr.run._images import ImageStore, decode_images, memory_budget
from raycxr.run._partition import (
    Partition,
    create_partition,
    cv_splits,
    dev_split,
    fold_leakage,
    images_at,
    leakage_pairs,
    leaked_test,
    load_partition,
    put_images,
    refit_split,
    search_leakage,
    split_leakage,
)
from raycxr.run._scaling import TRAINERS, TRIAL_DRIVER_RESOURCES, Scaling, Trainer
from raycxr.run._session import ray_session
from raycxr.run._trainable import Job, checkpoint_config, trainable, tune_config_options

__all__ = [
    "TRAINERS",
    "TRIAL_DRIVER_RESOURCES",
    "ImageStore",
    "Job",
    "Partition",
    "RunContext",
    "Scaling",
    "Trainer",
    "check_address",
    "check_shared_storage",
    "check_uri_writable",
    "checkpoint_config",
    "cluster_concurrency",
    "create_partition",
    "cv_splits",
    "decode_images",
    "dev_split",
    "fold_leakage",
    "images_at",
    "launcher_maximum",
    "leakage_pairs",
    "leaked_test",
    "load_partition",
    "max_cluster_resources",
    "memory_budget",
    "put_images",
    "quiet_train_logs",
    "ray_session",
    "refit_split",
    "result_checkpoint",
    "result_files",
    "search_leakage",
    "split_leakage",
    "start_ray",
    "trainable",
    "tune_config_options",
]
