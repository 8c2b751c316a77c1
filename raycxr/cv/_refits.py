"""The CV's choice as a usable model: every refit's weights and record, and ``selection.json``.

Each configuration the CV evaluates is refit on dev and scored once on test. Its weights are
the ones that test table scored; they are kept in ``cv/refits/<configuration>/`` with a
``refit.json`` (the resolved training configuration, the decision rule decided on the refit's
validation slice, the classes, the data's hash and the test metrics with their intervals).
``cv/selection.json`` names the configuration the CV selected and every one it evaluated, so
``python -m raycxr.predict EXPERIMENT/cv`` (and ``export``) serve exactly the selected refit,
and ``--config NAME`` any other one kept.

``--keep-refits selected`` keeps only the selected configuration's weights (a VGG16 refit is
about 0.5 GB; a MobileNetV2 one about 9 MB); ``all`` (the default) keeps every one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch

from raycxr.cv._configs import metric_words
from raycxr.cv._final import FinalTest
from raycxr.cv._run import FoldRun
from raycxr.experiment import MODEL_FILE, REFIT_FILE, CVFolder, write_json

KeepRefits = Literal["all", "selected"]


def test_metrics_of(final: FinalTest | None, config: str) -> dict[str, dict[str, Any]]:
    """A configuration's rows of the final test table: metric → value, interval and how it was resampled."""
    if final is None or not len(final.metrics):
        return {}
    rows = final.metrics[final.metrics["config"] == config]
    keep = [c for c in rows.columns if c not in ("config", "metric")]
    return {
        row["metric"]: {k: (None if pd.isna(row[k]) else row[k]) for k in keep if k in row}
        for _, row in rows.iterrows()
    }


def restore_refit_states(cv: CVFolder, refits: list[FoldRun]) -> None:
    """Refits whose weights were already moved to ``refits/`` (a report written before) get them back."""
    for run in refits:
        kept = cv.refit_dir(run.config) / MODEL_FILE
        if run.model_state is None and kept.is_file():
            run.model_state = torch.load(kept, map_location="cpu", weights_only=True)


def _drop_checkpoint_copy(run: FoldRun) -> None:
    """Remove the weights from the run's Tune checkpoint once ``refits/`` holds them (local storage only)."""
    if run.checkpoint is not None and "://" not in run.checkpoint:
        with contextlib.suppress(OSError):
            (Path(run.checkpoint) / MODEL_FILE).unlink(missing_ok=True)


def write_refits(
    cv: CVFolder,
    refits: list[FoldRun],
    configs: dict[str, dict[str, Any]],
    classes: tuple[str, ...],
    selected: str,
    final: FinalTest | None,
    keep: KeepRefits,
    data_sha256: str | None,
    multilabel: bool = False,
) -> dict[str, str]:
    """Write each kept refit's ``model.pt`` and ``refit.json``; configuration → its folder (relative to ``cv``).

    A multi-label refit's record says ``"multilabel": true`` (its classes are the labels, its rule ``thresholds``).
    """
    kept: dict[str, str] = {}
    for run in refits:
        folder = cv.refit_dir(run.config)
        if keep == "selected" and run.config != selected:
            (folder / MODEL_FILE).unlink(missing_ok=True)
            _drop_checkpoint_copy(run)
            continue
        if run.model_state is None or run.rule is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(run.model_state, folder / MODEL_FILE)
        _drop_checkpoint_copy(run)
        task = {"multilabel": True} if multilabel else {}  # a single-label record is unchanged
        write_json(folder / REFIT_FILE, {
            **task,
            "config": run.config,
            "selected": run.config == selected,
            "train_config": {k: v for k, v in configs[run.config].items() if k not in ("out",)},
            "classes": list(classes),
            "decision": run.rule.to_dict(),
            "best_epoch": (run.metrics or {}).get("best_epoch"),
            "data_sha256": data_sha256,
            "test": test_metrics_of(final, run.config),
        })  # fmt: skip
        kept[run.config] = folder.relative_to(cv.directory).as_posix()
    return kept


def write_selection(
    cv: CVFolder,
    selected: str,
    evaluated: list[str],
    kept: dict[str, str],
    keep: KeepRefits,
    test_set: bool,
    multilabel: bool = False,
) -> None:
    """``selection.json``: the selected configuration, every evaluated one, and whose refit weights are kept."""
    write_json(cv.selection_file, {
        "selected": selected,
        "selected_by": f"mean {metric_words(multilabel)} over the CV folds inside dev (the test set plays no part)",
        "evaluated": evaluated,
        "refits": kept,
        "keep_refits": keep,
        "test_set": test_set,
    })  # fmt: skip
