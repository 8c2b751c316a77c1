"""Which configurations a cross-validation evaluates: the search's top-k and the paper's baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from raycxr.experiment import read_record, read_trials, trial_config
from raycxr.losses import loss_spec
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
#: A multi-label task's baseline: plain BCE with the search's fixed settings (the usual CXR14 / CheXpert recipe).
MULTILABEL_BASELINES: dict[str, dict[str, Any]] = {"bce": {"loss": "bce", "pos_weight": False}}
BASELINES: dict[str, dict[str, Any]] = (
    PAPER_BASELINES | TABLE1 | COURSE_BINARY | COURSE_MULTICLASS | MULTILABEL_BASELINES
)
#: ``--baselines`` set names → their rows (``course`` depends on the task's number of classes).
BASELINE_SETS = ("all", "none", "table1", "course")
REFERENCE = "paper"
#: A multi-label experiment's reference: its baseline when evaluated, else the selected configuration.
MULTILABEL_REFERENCE = "bce"
#: The CV's selection criterion by task (``multilabel`` → metric): the mean over the folds inside dev of
#: macro-F1 for a single-label task (the paper's); of the macro AUC for a multi-label one, which needs no
#: threshold: each label's F1 depends on a threshold chosen on a small validation slice, its AUC does not,
#: and macro AUC is the figure multi-label chest X-ray work reports (CheXNet, CheXpert).
SELECTION_METRIC = {False: "f1_macro", True: "auc_ovr_macro"}
_METRIC_WORDS = {"f1_macro": "macro-F1", "auc_ovr_macro": "macro AUC"}


def selection_metric(multilabel: bool) -> str:
    """The metric whose mean over the CV folds selects the configuration (see :data:`SELECTION_METRIC`)."""
    return SELECTION_METRIC[multilabel]


def metric_words(multilabel: bool) -> str:
    """The selection metric in words: ``macro-F1`` or ``macro AUC``."""
    return _METRIC_WORDS[selection_metric(multilabel)]


def selection_words(multilabel: bool) -> str:
    """The selection criterion in words: ``mean CV macro AUC``."""
    return f"mean CV {metric_words(multilabel)}"


def default_baselines(multilabel: bool) -> str:
    """``--baselines`` when not given: the paper's four for a single-label task, none for a multi-label one
    (the paper's configurations train with single-label losses)."""
    return "none" if multilabel else "all"


def baseline_names(value: str, num_classes: int | None = None, multilabel: bool | None = None) -> list[str]:
    """``all`` (the paper's four) / ``none`` / ``table1`` / ``course`` / ``a,b`` → the baseline names.

    Args:
        value: The ``--baselines`` value.
        num_classes: The task's number of classes (``course`` picks its rows by it).
        multilabel: The task's kind, when known: each baseline's loss must fit it.

    Raises:
        ValueError: An unknown name (the message lists the choices), or a baseline whose loss does
            not fit the task (one line naming the baseline, its loss and the task).
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
    names = list(dict.fromkeys(names))
    if multilabel is not None:
        for name in names:
            loss = BASELINES[name]["loss"]
            if loss_spec(loss).multilabel != multilabel:
                kind, task = ("single-label", "multi-label") if multilabel else ("multi-label", "single-label")
                fits = "none or bce" if multilabel else "none, all, table1, course or a name"
                raise ValueError(f"--baselines: {name!r} trains with loss {loss!r}, which is {kind}; this experiment "
                                 f"is {task}: use --baselines {fits}.")  # fmt: skip
    return names


def read_experiment(directory: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The search's stored record (settings, space) and its trials table.

    Raises:
        ValueError: Not a raycxr experiment folder.
    """
    return read_record(directory), read_trials(directory)


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
