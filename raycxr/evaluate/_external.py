"""External validation: a multi-label model scored on another dataset's shared labels, with patient-bootstrap CIs.

The other dataset is read by its adapter (:func:`raycxr.data.read_dataset`), its labels re-expressed
in the common label space (:func:`raycxr.data.to_common`) and its uncertain labels decided by the
model's own training policy (``uncertain``: the thresholds were chosen under it). The model is
scored on the labels both have (:func:`~raycxr.evaluate.align_labels`) with its validation-chosen
thresholds: per-label and macro AUC, AP and F1 (:func:`raycxr.evaluation.multilabel_metrics`),
each with a percentile bootstrap interval resampling whole patients
(:func:`raycxr.evaluation.multilabel_bootstrap`; images, and a note, below
:data:`raycxr.evaluation.MIN_GROUPS` patients or for a dataset without patients).

Images with no known value of any shared label are left out (nothing to score them on); an
unreadable image is reported and left out, as ``predict`` does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raycxr.data import DatasetIndex, apply_uncertain, check_dataset_use, read_dataset, resolve_dataset, to_common
from raycxr.evaluate._align import Alignment, align_labels, label_map
from raycxr.evaluation import Design, Interval, MultilabelBootstrap, multilabel_bootstrap, resampling_design
from raycxr.predict import LoadedModel, predict_files, probability_column

#: The metrics reported per label and as macro averages over the shared labels.
PER_LABEL = ("auc", "ap", "f1")
MACRO = {"auc_ovr_macro": "auc", "ap_macro": "ap", "f1_macro": "f1"}
#: Files written to ``--out``.
METRICS_FILE = "external_metrics.csv"
PREDICTIONS_FILE = "external_predictions.csv"
RECORD_FILE = "external.json"


@dataclasses.dataclass
class ExternalResult:
    """What :func:`external_validation` measured.

    Attributes:
        dataset: The other dataset's name.
        alignment: The labels scored and skipped.
        files: The images scored.
        patients: Each image's patient (``None`` without groups).
        labels: ``(N, S)`` their labels in the shared labels (NaN unknown).
        proba: ``(N, S)`` the model's probabilities of them.
        intervals: ``{metric key: Interval}``: ``auc_ovr_macro``, ``ap_macro``, ``f1_macro`` and
            ``auc/<label>``, ``ap/<label>``, ``f1/<label>`` (common label names).
        design: How the intervals resampled.
        failures: Unreadable images → reason.
        left_out: Images without a known shared label.
        uncertain: The uncertain-label policy applied (the model's).
    """

    dataset: str
    alignment: Alignment
    files: list[str]
    patients: np.ndarray | None
    labels: np.ndarray
    proba: np.ndarray
    intervals: dict[str, Interval]
    design: Design
    failures: dict[str, str]
    left_out: int
    uncertain: str

    def table(self) -> pd.DataFrame:
        """One row per metric: ``label`` (``macro`` for the averages), ``metric``, ``value``, ``ci_low``,
        ``ci_high``, ``model_label``, ``support`` (known positives), ``n_used`` resamples, ``note``."""
        rows = []
        known = ~np.isnan(self.labels)
        for key, interval in self.intervals.items():
            metric, _, label = key.partition("/")
            if label:
                j = self.alignment.common.index(label)
                model_label, support = self.alignment.model_labels[j], int(np.nansum(self.labels[known[:, j], j]))
            else:
                metric, label, model_label, support = MACRO[key], "macro", "", int(np.nansum(self.labels))
            rows.append({"label": label, "metric": metric, "value": interval.estimate, "ci_low": interval.low,
                         "ci_high": interval.high, "model_label": model_label, "support": support,
                         "n_used": interval.n_used, "note": interval.note})  # fmt: skip
        return pd.DataFrame(rows)

    def predictions(self) -> pd.DataFrame:
        """``file``, ``patient``, then per shared label ``p_<label>`` and the true ``<label>`` (1, 0 or empty)."""
        table = pd.DataFrame({"file": self.files})
        table["patient"] = self.patients if self.patients is not None else ""
        for j, name in enumerate(self.alignment.common):
            table[probability_column(name)] = self.proba[:, j]
            table[name] = pd.array(self.labels[:, j], dtype="Float64").astype("Int64")
        return table

    def summary(self) -> str:
        """One line: the data, images, patients, shared labels, and macro AUC / AP / F1 with their intervals."""
        patients = f", {len(np.unique(self.patients))} patients" if self.patients is not None else ""
        parts = []
        for key, name in (("auc_ovr_macro", "AUC"), ("ap_macro", "AP"), ("f1_macro", "F1")):
            i = self.intervals[key]
            parts.append(f"macro {name} {i.estimate:.3f} [{i.low:.3f}, {i.high:.3f}]")
        interval = self.intervals["auc_ovr_macro"]
        return (
            f"external validation on {self.dataset} ({len(self.files)} images{patients}; "
            f"{len(self.alignment.common)} shared label(s): {', '.join(self.alignment.common)}): {', '.join(parts)} "
            f"({interval.level:.0%} CI, resampling {interval.unit}, {interval.n_used + interval.n_skipped} resamples)"
        )

    def record(self) -> dict[str, Any]:
        """``external.json``: what was scored, how, and every interval."""
        return {
            "dataset": self.dataset,
            "shared_labels": list(self.alignment.common),
            "model_labels": list(self.alignment.model_labels),
            "skipped": self.alignment.skipped,
            "uncertain": self.uncertain,
            "images": len(self.files),
            "patients": None if self.patients is None else len(np.unique(self.patients)),
            "left_out_no_known_label": self.left_out,
            "failures": self.failures,
            "resampling": {"unit": self.design.unit, "description": self.design.description, "note": self.design.note},
            "metrics": {key: dataclasses.asdict(interval) for key, interval in self.intervals.items()},
            "summary": self.summary(),
        }

    def write(self, out: str | Path) -> list[Path]:
        """Write :data:`METRICS_FILE`, :data:`PREDICTIONS_FILE` and :data:`RECORD_FILE` in ``out`` (created)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / METRICS_FILE, out / PREDICTIONS_FILE, out / RECORD_FILE]
        self.table().to_csv(paths[0], index=False)
        self.predictions().to_csv(paths[1], index=False)
        paths[2].write_text(json.dumps(self.record(), indent=2, default=_json_value))
        return paths


def _json_value(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class ExternalData:
    """The other dataset, read and lined up with the model: what :func:`external_validation` scores."""

    dataset: str
    index: DatasetIndex
    alignment: Alignment
    labels: np.ndarray
    left_out: int


def _interval(boot: MultilabelBootstrap, key: str) -> Interval:
    """``boot``'s interval of ``key``; one undefined on the data or on every resample is NaN, with a note."""
    try:
        return boot.interval(key)
    except ValueError as error:
        estimate = boot.estimates[key]
        return Interval(estimate, np.nan, np.nan, boot.level, 0, len(boot.values), boot.unit, 0, str(error))


def external_data(loaded: LoadedModel, data: str | Path, dataset: str = "auto", official: bool = False) -> ExternalData:
    """Read ``data`` and line its labels up with the model's, before any image is decoded.

    Args:
        loaded: A multi-label model.
        data: The other dataset's root (or csv).
        dataset: Its adapter (``auto``: detected).
        official: Score its official test split only (else every image).

    Raises:
        ValueError: A single-label model or dataset, no official split, no shared label, no image
            with a known shared label, or anything the adapter refuses (one line).
    """
    if not loaded.multilabel:
        raise ValueError(
            f"external validation scores multi-label models; {loaded.path} is single-label "
            f"(classes {', '.join(loaded.classes)})."
        )
    name = resolve_dataset(data, dataset)
    if official:
        check_dataset_use(name, official=True, group=False)
    index = read_dataset(data, name)
    if not index.multilabel:
        raise ValueError(f"{data}: dataset {name} is single-label (classes {', '.join(index.classes)}); "
                         "external validation needs a multi-label dataset.")  # fmt: skip
    alignment = align_labels(loaded.classes, loaded.config.dataset, index.classes, name)
    common = to_common(index, label_map(name, index.classes))
    columns = [common.classes.index(label) for label in alignment.common]
    labels = apply_uncertain(common.labels[:, columns], loaded.config.uncertain)
    scope = np.asarray(index.official_test, dtype=bool) if official else np.ones(len(index), dtype=bool)
    keep = scope & ~np.isnan(labels).all(axis=1)
    if not keep.any():
        where = " in its official test split" if official else ""
        raise ValueError(f"{data}: no image of {name}{where} has a known value of the shared labels "
                         f"({', '.join(alignment.common)}).")  # fmt: skip
    rows = np.flatnonzero(keep)
    groups = None if index.groups is None else np.asarray(index.groups)[rows]
    kept = DatasetIndex(paths=tuple(index.paths[i] for i in rows), labels=labels[rows], classes=alignment.common,
                        groups=groups)  # fmt: skip
    return ExternalData(name, kept, alignment, labels[rows], int(scope.sum() - keep.sum()))


def external_validation(
    loaded: LoadedModel,
    data: str | Path,
    dataset: str = "auto",
    *,
    official: bool = False,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    batch_size: int = 32,
    on_failure: Callable[[str], None] | None = None,
) -> ExternalResult:
    """Score ``loaded`` on the shared labels of the dataset at ``data`` (see the module).

    Raises:
        ValueError: As :func:`external_data`; every image unreadable.
    """
    prepared = external_data(loaded, data, dataset, official)
    index, alignment = prepared.index, prepared.alignment
    result = predict_files(loaded, index.paths, batch_size, progress=False, on_failure=on_failure)
    if not result.files:
        raise ValueError(f"{data}: none of the {len(index)} images of {prepared.dataset} could be read.")
    position = {str(path): i for i, path in enumerate(index.paths)}
    rows = np.array([position[f] for f in result.files], dtype=np.int64)
    labels = prepared.labels[rows]
    proba = result.probabilities[:, list(alignment.columns)]
    thresholds = np.asarray(loaded.rule.thresholds)[list(alignment.columns)]
    patients = None if index.groups is None else np.asarray(index.groups)[rows].astype(str)
    design = resampling_design("groups", patients)
    keys = [*MACRO, *(f"{metric}/{label}" for label in alignment.common for metric in PER_LABEL)]
    boot = multilabel_bootstrap(labels, proba, alignment.common, thresholds, design=design, group_name="patient",
                                n_boot=n_boot, level=level, seed=seed)  # fmt: skip
    intervals = {key: _interval(boot, key) for key in keys}
    return ExternalResult(prepared.dataset, alignment, result.files, patients, labels, proba, intervals, design,
                          result.failures, prepared.left_out, loaded.config.uncertain)  # fmt: skip
