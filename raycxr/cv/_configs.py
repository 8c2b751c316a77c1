"""Which configurations a cross-validation evaluates: the search's top-k and the paper's baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from raycxr.experiment import check_single_label, read_record, read_trials, trial_config
from raycxr.tune import PAPER_POINT, SearchSpace

#: The paper's configuration (Roy & Khurana): Mobile Freeze-Net with the attention loss (the
#: point ``python -m raycxr.tune --enqueue paper`` starts a search with).
PAPER = dict(PAPER_POINT)
#: The paper's training recipe, shared by every row of its Table 1: Adam 1e-4, batch 8.
RECIPE = {"lr": 1e-4, "batch_size": 8}
_SCRATCH = {"weights": "none", "freeze_ratio": 0.0, "freeze_mode": "prefix", "normalize": "unit"}
#: The paper's baselines, each changing one thing of ``PAPER``.
PAPER_BASELINES: dict[str, dict[str, Any]] = {
    "paper": PAPER,
    "paper-ce": PAPER | {"loss": "ce"},
    "finetune-100": PAPER | {"freeze_ratio": 0.0},
    "stochastic-50": PAPER | {"freeze_mode": "stochastic"},
}
#: The rows of the paper's Table 1, re-run on one protocol (the same folds, recipe and budget).
TABLE1: dict[str, dict[str, Any]] = {
    "covidnet-scratch": RECIPE | _SCRATCH | {"backbone": "covidnet", "head": "gap", "loss": "ce"},
    "covidlite-scratch": RECIPE | _SCRATCH | {"backbone": "covidlite", "head": "gap", "loss": "ce"},
    "inception_v3-ft100": RECIPE
    | {"backbone": "inception_v3", "weights": "imagenet", "freeze_ratio": 0.0, "head": "gap", "loss": "ce",
       "normalize": "imagenet", "image_size": 299},
    "resnet18-cwbcce-scratch": RECIPE | _SCRATCH | {"backbone": "resnet18", "head": "gap", "loss": "cwbcce"},
    "mobilenet_v2-ft100": PAPER
    | {"backbone": "mobilenet_v2", "weights": "imagenet", "loss": "ce", "freeze_ratio": 0.0},
    "mobilenet_v2-stochastic50": PAPER
    | {"backbone": "mobilenet_v2", "weights": "imagenet", "loss": "ce", "freeze_mode": "stochastic"},
    "mobile-freeze-net": PAPER | {"backbone": "mobilenet_v2", "weights": "imagenet", "loss": "ce"},
    "mobile-freeze-net-attention": PAPER | {"backbone": "mobilenet_v2", "weights": "imagenet"},
}  # fmt: skip
#: The paper's published Table 1 (macro averages on its own splits; DESIGN.md): not comparable
#: fold for fold, shown beside the re-run rows for orientation only.
PUBLISHED_TABLE1: dict[str, dict[str, float]] = {
    "covidnet-scratch": {"f1_macro": 0.87, "accuracy": 0.87, "precision_macro": 0.88, "recall_macro": 0.86,
                         "auc_ovr_macro": 0.88},
    "covidlite-scratch": {"f1_macro": 0.86, "accuracy": 0.85, "precision_macro": 0.86, "recall_macro": 0.87,
                          "auc_ovr_macro": 0.88},
    "inception_v3-ft100": {"f1_macro": 0.78, "accuracy": 0.80, "precision_macro": 0.77, "recall_macro": 0.79,
                           "auc_ovr_macro": 0.80},
    "resnet18-cwbcce-scratch": {"f1_macro": 0.93, "accuracy": 0.92, "precision_macro": 0.93, "recall_macro": 0.94,
                                "auc_ovr_macro": 0.98},
    "mobilenet_v2-ft100": {"f1_macro": 0.91, "accuracy": 0.89, "precision_macro": 0.91, "recall_macro": 0.91,
                           "auc_ovr_macro": 0.95},
    "mobilenet_v2-stochastic50": {"f1_macro": 0.93, "accuracy": 0.92, "precision_macro": 0.94, "recall_macro": 0.92,
                                  "auc_ovr_macro": 0.98},
    "mobile-freeze-net": {"f1_macro": 0.94, "accuracy": 0.93, "precision_macro": 0.93, "recall_macro": 0.94,
                          "auc_ovr_macro": 0.98},
}  # fmt: skip
#: The course report's (CS 542) systems: VGG16 + flatten → dense 256 ('feature_dense'), and
#: MobileNet V1 + GAP → 512 → 256; binary focal loss on a two-class task, CE otherwise.
COURSE_BINARY: dict[str, dict[str, Any]] = {
    "course-vgg16-binary-focal": RECIPE | {"backbone": "vgg16", "weights": "imagenet", "freeze_ratio": 0.0,
        "head": "dense", "head_widths": [256], "head_pool": "flatten", "loss": "binary_focal", "binary": True,
        "focal_alpha": 0.25, "focal_gamma": 2.0, "normalize": "imagenet"},
}  # fmt: skip
COURSE_MULTICLASS: dict[str, dict[str, Any]] = {
    "course-vgg16": RECIPE | {"backbone": "vgg16", "weights": "imagenet", "freeze_ratio": 0.0, "head": "dense",
                              "head_widths": [256], "head_pool": "flatten", "loss": "ce", "normalize": "imagenet"},
    "course-mobilenet_v1": RECIPE | {"backbone": "mobilenet_v1", "weights": "imagenet", "freeze_ratio": 0.0,
                                     "head": "mlp", "loss": "ce", "normalize": "imagenet"},
}  # fmt: skip
BASELINES: dict[str, dict[str, Any]] = PAPER_BASELINES | TABLE1 | COURSE_BINARY | COURSE_MULTICLASS
#: ``--baselines`` set names → their rows (``course`` depends on the task's number of classes).
BASELINE_SETS = ("all", "none", "table1", "course")
REFERENCE = "paper"


def baseline_names(value: str, num_classes: int | None = None) -> list[str]:
    """``all`` (the paper's four) / ``none`` / ``table1`` / ``course`` / ``a,b`` → the baseline names.

    Raises:
        ValueError: An unknown name (the message lists the choices).
    """
    names: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        if item == "all":
            names += list(PAPER_BASELINES)
        elif item == "table1":
            names += list(TABLE1)
        elif item == "course":
            names += list(COURSE_BINARY if num_classes == 2 else COURSE_MULTICLASS)
        elif item in BASELINES:
            names.append(item)
        elif item and item != "none":
            raise ValueError(
                f"unknown baseline {item!r}; expected a set ({', '.join(BASELINE_SETS)}) or a comma list of "
                f"{', '.join(BASELINES)}"
            )
    return list(dict.fromkeys(names))


def read_experiment(directory: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The search's stored record (settings, space) and its trials table.

    Raises:
        ValueError: Not a raycxr experiment folder.
    """
    record = read_record(directory)
    check_single_label(record, directory, "raycxr.cv")
    return record, read_trials(directory)


def top_trials(trials: pd.DataFrame, metric: str, mode: str, k: int, directory: Path) -> pd.DataFrame:
    """The ``k`` best finished trials.

    Raises:
        ValueError: No finished trials, or fewer than ``k``.
    """
    finished = trials[trials["status"].isin(["completed", "pruned"])] if len(trials) else trials
    finished = finished[finished[metric].notna()] if metric in finished else finished.iloc[:0]
    if k and not len(finished):
        raise ValueError(f"{directory}: the search has no finished trials to cross-validate.")
    if k > len(finished):
        raise ValueError(f"--top-k {k}: the search has only {len(finished)} finished trial(s).")
    return finished.sort_values(metric, ascending=mode == "min").head(k)


def configurations(
    record: dict[str, Any],
    trials: pd.DataFrame,
    metric: str,
    mode: str,
    top_k: int,
    baselines: list[str],
    directory: Path,
) -> dict[str, dict[str, Any]]:
    """Name → training settings of every configuration: a searched trial's as it recorded them, a baseline's
    the search's fixed settings with the baseline's.

    Raises:
        ValueError: Too few finished trials, or a trial without a recorded configuration.
    """
    space = SearchSpace(**record["space"])
    base = search_base(record)
    configs: dict[str, dict[str, Any]] = {}
    for rank, (_, row) in enumerate(top_trials(trials, metric, mode, top_k, directory).iterrows(), start=1):
        recorded = trial_config(directory, str(row["trial_id"]), row)
        configs[f"top{rank}-{row['trial_id']}"] = {k: v for k, v in recorded.items() if k not in ("out",)}
    for name in baselines:
        configs[name] = {**space.fixed, **base, **BASELINES[name]}
    return configs


def search_base(record: dict[str, Any]) -> dict[str, Any]:
    """The settings the search gave outside its space (``--set``, demo defaults, seed, dataset)."""
    from raycxr.tune import TuneSettings

    return TuneSettings(**record["settings"]).train_base()
