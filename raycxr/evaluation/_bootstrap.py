"""Percentile bootstrap intervals of a metric, and a paired bootstrap comparison of two models.

Both resample the unit by which the test set was drawn (a :class:`Design`, see
:func:`resampling_design`) and say so in their result, with the resamples used, the draws
redrawn because they lacked a class, and the resamples on which the metric was undefined.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from raycxr.evaluation._checks import check_labels_proba, check_level
from raycxr.evaluation._design import Design, checked_design, resample_indices, single_group_classes

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval.

    Attributes:
        estimate: The metric on the full data.
        low, high: Bounds of the interval.
        level: Its nominal coverage, e.g. 0.95.
        n_used: Resamples on which the metric was defined and which the interval is made of.
        n_skipped: Resamples on which the metric was undefined (it raised ``ValueError`` or was
            not finite); ``n_used + n_skipped`` is the ``n_boot`` asked for.
        unit: The resampling unit, ``"image (stratified by class)"`` or ``"group (N groups)"``.
        n_redrawn: Group draws discarded and redrawn because they lacked a class (0 for images).
        note: What the reader must know, ``"; "``-separated: the design's fallback, redraws,
            undefined resamples, classes found in one group only; ``""`` when there is nothing.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_used: int
    n_skipped: int
    unit: str
    n_redrawn: int
    note: str

    def describe(self) -> str:
        """One line for a report: ``0.941 [0.931, 0.949] (95 % CI, image (stratified by class), 2000 resamples)``."""
        text = (
            f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] "
            f"({self.level:.0%} CI, {self.unit}, {self.n_used} resamples)"
        )
        return f"{text}; {self.note}" if self.note else text


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """Metric of model A minus metric of model B on the same resamples.

    Attributes:
        diff: ``metric(a) − metric(b)`` on the full data.
        low, high: Percentile bootstrap interval of the difference.
        p_value: Two-sided bootstrap p-value of "no difference" (see :func:`paired_bootstrap`).
        level: Nominal coverage of the interval.
        n_used: Resamples where both metrics were defined.
        n_skipped: Resamples where either metric was undefined.
        unit, n_redrawn, note: As in :class:`Interval`.
    """

    diff: float
    low: float
    high: float
    p_value: float
    level: float
    n_used: int
    n_skipped: int
    unit: str
    n_redrawn: int
    note: str


def _check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    return int(n_boot)


def _evaluate(metric: Metric, y: np.ndarray, proba: np.ndarray) -> float:
    """The metric, or NaN where it is undefined (raises ``ValueError`` or returns a non-finite value)."""
    try:
        value = float(metric(y, proba))
    except ValueError:
        return np.nan
    return value if np.isfinite(value) else np.nan


def _full_data_value(metric: Metric, y: np.ndarray, proba: np.ndarray, name: str) -> float:
    value = float(metric(y, proba))
    if not np.isfinite(value):
        raise ValueError(f"the metric is not finite on the full data ({name}): {value}")
    return value


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = 1 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_p_value(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference" from the defined bootstrap differences ``deltas``
    (see :func:`paired_bootstrap`)."""
    b = deltas.size
    return float(min(1.0, 2 * min((1 + np.sum(deltas <= 0)) / (b + 1), (1 + np.sum(deltas >= 0)) / (b + 1))))


def _prepare(
    y_true: object, probas: list[object], design: Design | None, groups: object | None, n_boot: int, level: float
) -> tuple[np.ndarray, list[np.ndarray], Design, int, float]:
    y, first = check_labels_proba(y_true, probas[0], "proba_a" if len(probas) > 1 else "proba")
    checked = [first]
    for name, proba in zip(["proba_b"], probas[1:]):
        _, p = check_labels_proba(y, proba, name)
        if p.shape != first.shape:
            raise ValueError(f"proba_a and proba_b must have the same shape, got {first.shape} and {p.shape}")
        checked.append(p)
    if groups is not None:
        warnings.warn(
            "groups= is deprecated: pass design=resampling_design('images' | 'groups', groups), "
            "saying how the test set was drawn",
            DeprecationWarning,
            stacklevel=3,
        )
    return y, checked, checked_design(design, groups, len(y)), _check_n_boot(n_boot), check_level(level)


def _resampled(
    metrics: list[Metric], y: np.ndarray, probas: list[np.ndarray], design: Design, n_boot: int, seed: int
) -> tuple[np.ndarray, int]:
    """Per resample, each model's metric (shape (n_boot, len(probas)), NaN where undefined); draws redrawn."""
    values = np.empty((n_boot, len(probas)))
    redrawn = 0
    for b, (idx, discarded) in enumerate(resample_indices(y, design, n_boot, seed)):
        redrawn += discarded
        y_b = y[idx]
        values[b] = [_evaluate(metric, y_b, p[idx]) for metric, p in zip(metrics, probas)]
    return values, redrawn


def _note(y: np.ndarray, design: Design, n_boot: int, n_skipped: int, redrawn: int) -> str:
    notes = [design.note] if design.note else []
    if redrawn:
        notes.append(f"{redrawn} group draws lacked a class and were redrawn")
    lone = single_group_classes(y, design)
    if lone:
        notes.append(f"class(es) {', '.join(map(str, lone))} in one group only: their source does not vary")
    if n_skipped:
        notes.append(f"metric undefined on {n_skipped} of {n_boot} resamples (left out of the interval)")
    return "; ".join(notes)


def bootstrap_ci(
    metric: Metric,
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    design: Design | None = None,
    groups: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``metric(y_true, proba)``, resampling the unit of ``design``.

    The default design resamples images within each class (the test set of ``--test-fraction``
    was drawn that way); a design from ``resampling_design("groups", groups)`` resamples whole
    groups, so rows of one source are never split between "in" and "out" and their
    correlation widens the interval as it should. Group draws lacking a class are redrawn (see
    :func:`resample_indices`); resamples on which the metric is still undefined (it raises
    ``ValueError``, as sklearn's AUC does with one class present, or returns NaN/inf) are left
    out, counted in :attr:`Interval.n_skipped` and named in :attr:`Interval.note`. The same
    seed gives the same resamples, hence the same numbers.

    Args:
        metric: ``metric(y_true, proba) -> float``, e.g. :func:`macro_f1`.
        y_true: Integer labels, shape (n,).
        proba: Class probabilities, shape (n, K), rows summing to 1.
        design: How to resample (default: images, stratified by class).
        groups: Deprecated: ``groups=G`` is ``design=resampling_design("groups", G)``.
        n_boot: Number of resamples.
        level: Coverage of the interval, in (0, 1).
        seed: Seed of the resampling.

    Raises:
        ValueError: Bad inputs, a metric undefined on the full data, or on every resample.
    """
    y, (p,), design, n_boot, level = _prepare(y_true, [proba], design, groups, n_boot, level)
    estimate = _full_data_value(metric, y, p, "proba")
    values, redrawn = _resampled([metric], y, [p], design, n_boot, seed)
    used = values[np.isfinite(values[:, 0]), 0]
    if used.size == 0:
        raise ValueError(f"the metric was undefined on all {n_boot} resamples")
    low, high = _percentiles(used, level)
    skipped = n_boot - int(used.size)
    note = _note(y, design, n_boot, skipped, redrawn)
    return Interval(estimate, low, high, level, int(used.size), skipped, design.description, redrawn, note)


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    *,
    design: Design | None = None,
    groups: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    metric_b: Metric | None = None,
) -> PairedDifference:
    """Paired bootstrap of ``metric(a) − metric(b)``: both models are scored on the same resampled rows.

    The p-value inverts the percentile interval: with ``d*`` the B bootstrap differences,
    ``p = min(1, 2 · min((1 + #{d* ≤ 0}) / (B + 1), (1 + #{d* ≥ 0}) / (B + 1)))``, i.e. about
    the smallest α whose (1 − α) percentile interval excludes 0. The "+1" keeps ``p ≥ 2/(B+1)``:
    B resamples cannot support a smaller p-value. Identical models give ``p = 1``.

    Args:
        metric: ``metric(y_true, proba) -> float``.
        y_true: Integer labels, shape (n,).
        proba_a, proba_b: Probabilities of the two models on the same rows, shape (n, K).
        design: How to resample (see :func:`bootstrap_ci`); the same design and seed as
            :func:`bootstrap_ci` draw the same resamples.
        groups: Deprecated: ``groups=G`` is ``design=resampling_design("groups", G)``.
        n_boot: Number of resamples.
        level: Coverage of the interval, in (0, 1).
        seed: Seed of the resampling.
        metric_b: The metric of model b when it differs (e.g. another decision rule); default ``metric``.

    Raises:
        ValueError: Bad inputs, a metric undefined on the full data, or on every resample.
    """
    metric_b = metric if metric_b is None else metric_b
    y, (pa, pb), design, n_boot, level = _prepare(y_true, [proba_a, proba_b], design, groups, n_boot, level)
    diff = _full_data_value(metric, y, pa, "proba_a") - _full_data_value(metric_b, y, pb, "proba_b")
    values, redrawn = _resampled([metric, metric_b], y, [pa, pb], design, n_boot, seed)
    deltas = values[:, 0] - values[:, 1]
    used = deltas[np.isfinite(deltas)]
    if used.size == 0:
        raise ValueError(f"the metric was undefined on all {n_boot} resamples")
    low, high = _percentiles(used, level)
    b = used.size
    p_value = paired_p_value(used)
    skipped = n_boot - int(b)
    note = _note(y, design, n_boot, skipped, redrawn)
    return PairedDifference(diff, low, high, float(p_value), level, int(b), skipped, design.description, redrawn, note)
