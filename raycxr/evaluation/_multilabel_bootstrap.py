"""Bootstrap intervals of a multi-label model's metrics, paired differences, and per-label calibration.

:func:`bootstrap_ci` and :func:`paired_bootstrap` take integer labels and softmax probabilities;
a multi-label test set has a label table (N, L) with unknown entries and per-label sigmoid
probabilities. :func:`multilabel_bootstrap` resamples it by the unit of a :class:`Design` (whole
groups, e.g. patients, or images) with :func:`resample_indices`, scores every resample once with
:func:`multilabel_metrics` (all scalars and per-label values together) and keeps the resampled
values, so two models scored with the same design and seed have the **same** resamples and their
paired difference (:meth:`MultilabelBootstrap.paired`) costs nothing more.

Images are resampled without strata (a multi-label row belongs to several labels at once); groups
are drawn whole and never redrawn. A resample on which a value is undefined (a label without a
known positive: AUC, AP and F1 are NaN) is left out of that value's interval and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from raycxr.evaluation._bootstrap import Interval, PairedDifference, _check_n_boot, _percentiles, paired_p_value
from raycxr.evaluation._calibration import reliability_curve
from raycxr.evaluation._checks import check_level
from raycxr.evaluation._design import IMAGES, Design, resample_indices
from raycxr.evaluation._multilabel import multilabel_metrics

if TYPE_CHECKING:
    from raycxr.evaluation._decision import DecisionRule


@dataclasses.dataclass(frozen=True)
class MultilabelBootstrap:
    """Every metric of a multi-label model on a test set, and its values on each resample.

    Attributes:
        estimates: :func:`multilabel_metrics` on the full test set.
        keys: The bootstrapped keys (floats of ``estimates``), the columns of ``values``.
        values: ``(n_boot, len(keys))`` resampled values, NaN where undefined.
        level: Coverage of the intervals.
        unit: The resampling unit in words: ``"image"`` or ``"patient (24 patients)"``.
        note: The design's note (why it fell back to images), or ``""``.
    """

    estimates: dict[str, float]
    keys: tuple[str, ...]
    values: np.ndarray
    level: float
    unit: str
    note: str

    def _column(self, key: str) -> np.ndarray:
        if key not in self.keys:
            raise ValueError(f"no bootstrapped metric {key!r}; expected one of {', '.join(self.keys)}")
        return self.values[:, self.keys.index(key)]

    def _note(self, skipped: int) -> str:
        notes = [self.note] if self.note else []
        if skipped:
            notes.append(f"metric undefined on {skipped} of {len(self.values)} resamples (left out of the interval)")
        return "; ".join(notes)

    def interval(self, key: str) -> Interval:
        """The percentile interval of ``key`` (``auc_ovr_macro``, ``auc/Edema`` …).

        Raises:
            ValueError: An unknown key, a value undefined on the full set or on every resample.
        """
        column = self._column(key)
        estimate = self.estimates[key]
        if not np.isfinite(estimate):
            raise ValueError(f"{key} is undefined on the test set (a label without a known positive or negative)")
        used = column[np.isfinite(column)]
        if used.size == 0:
            raise ValueError(f"{key} was undefined on all {len(column)} resamples")
        low, high = _percentiles(used, self.level)
        skipped = len(column) - int(used.size)
        return Interval(estimate, low, high, self.level, int(used.size), skipped, self.unit, 0, self._note(skipped))

    def paired(self, other: MultilabelBootstrap, key: str) -> PairedDifference:
        """``key`` of this model minus ``key`` of ``other`` on the same resamples (same design and seed).

        Raises:
            ValueError: The two were not resampled alike, or ``key`` is undefined (see :meth:`interval`).
        """
        if self.values.shape != other.values.shape or self.unit != other.unit or self.keys != other.keys:
            raise ValueError("a paired difference needs two bootstraps of the same test set, design and seed")
        a, b = self.estimates[key], other.estimates[key]
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"{key} is undefined on the test set")
        deltas = self._column(key) - other._column(key)
        used = deltas[np.isfinite(deltas)]
        if used.size == 0:
            raise ValueError(f"{key} was undefined on all {len(deltas)} resamples")
        low, high = _percentiles(used, self.level)
        skipped = len(deltas) - int(used.size)
        return PairedDifference(a - b, low, high, paired_p_value(used), self.level, int(used.size), skipped,
                                self.unit, 0, self._note(skipped))  # fmt: skip


def _unit(design: Design, group_name: str) -> str:
    return "image" if design.unit == "image" else f"{group_name} ({design.n_groups} {group_name}s)"


def multilabel_bootstrap(
    labels: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    rule: DecisionRule | Sequence[float] | None,
    *,
    design: Design = IMAGES,
    group_name: str = "group",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> MultilabelBootstrap:
    """Bootstrap every metric of :func:`multilabel_metrics` (scalars and per-label values) at once.

    Args:
        labels: ``(N, L)`` label table, NaN unknown.
        proba: ``(N, L)`` per-label probabilities.
        classes: The L label names.
        rule: The model's rule ``thresholds`` (or the thresholds), applied on every resample.
        design: How the test set was drawn (:func:`resampling_design`); its image unit resamples
            images without strata.
        group_name: What a group is, for the unit's wording (``"patient"``).
        n_boot: Number of resamples.
        level: Coverage of the intervals, in (0, 1).
        seed: Seed of the resampling: the same seed and design draw the same resamples.

    Raises:
        ValueError: Bad labels, probabilities, thresholds, design, ``n_boot`` or ``level``.
    """
    estimates = multilabel_metrics(labels, proba, classes, rule)
    n_boot, level = _check_n_boot(n_boot), check_level(level)
    y, p = np.asarray(labels, dtype=float), np.asarray(proba, dtype=float)
    if design.unit == "group" and (design.groups is None or len(design.groups) != len(y)):
        raise ValueError(f"design.groups must name the group of each of the {len(y)} test rows")
    keys = tuple(k for k, v in estimates.items() if isinstance(v, float))
    values = np.empty((n_boot, len(keys)))
    one_stratum = np.zeros(len(y), dtype=np.int64)  # images: plain resampling; groups: never redrawn
    for b, (idx, _) in enumerate(resample_indices(one_stratum, design, n_boot, seed)):
        metrics = multilabel_metrics(y[idx], p[idx], classes, rule)
        values[b] = [metrics[k] for k in keys]
    return MultilabelBootstrap(estimates, keys, values, level, _unit(design, group_name), design.note)


def label_calibration(labels: np.ndarray, proba: np.ndarray, classes: Sequence[str], n_bins: int = 15) -> list[dict]:
    """Each label's sigmoid calibration on its known entries: ECE and Brier score.

    ECE: ``Σ_bins (n_b / n) · |positive rate_b − mean probability_b|`` over equal-width bins of the
    label's probability (its :func:`reliability_curve` as a two-class problem); Brier: the mean of
    ``(p − y)²``. A label without known entries gets NaN.

    Returns:
        One dict per label: ``label``, ``ece``, ``brier``, ``known`` (entries scored).
    """
    y, p = np.asarray(labels, dtype=float), np.asarray(proba, dtype=float)
    rows = []
    for j, name in enumerate(classes):
        known = ~np.isnan(y[:, j])
        yj, pj = y[known, j].astype(np.int64), p[known, j]
        if not len(yj):
            rows.append({"label": name, "ece": float("nan"), "brier": float("nan"), "known": 0})
            continue
        curve = reliability_curve(yj, np.column_stack([1 - pj, pj]), 1, n_bins)
        ece = float(np.sum(curve.count * np.abs(curve.observed - curve.mean_predicted)) / len(yj))
        rows.append({"label": name, "ece": ece, "brier": float(np.mean((pj - yj) ** 2)), "known": len(yj)})
    return rows
