"""Percentile bootstrap intervals of a metric, and a paired bootstrap comparison of two models."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from raycxr.evaluation._checks import check_groups, check_labels_proba, check_level

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval.

    Attributes:
        estimate: The metric on the full data.
        low, high: Bounds of the interval.
        level: Its nominal coverage, e.g. 0.95.
        n_used: Resamples on which the metric was defined and which the interval is made of.
        n_skipped: Resamples skipped because the metric raised ``ValueError`` or was not finite.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_used: int
    n_skipped: int


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """Metric of model A minus metric of model B on the same resamples.

    Attributes:
        diff: ``metric(a) − metric(b)`` on the full data.
        low, high: Percentile bootstrap interval of the difference.
        p_value: Two-sided bootstrap p-value of "no difference" (see :func:`paired_bootstrap`).
        level: Nominal coverage of the interval.
        n_used: Resamples where both metrics were defined.
        n_skipped: Resamples skipped because either metric was undefined.
    """

    diff: float
    low: float
    high: float
    p_value: float
    level: float
    n_used: int
    n_skipped: int


def _check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    return int(n_boot)


def _resamples(n: int, groups: np.ndarray | None, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` row-index arrays: rows drawn with replacement, or whole groups when ``groups`` is given.

    A cluster resample draws as many groups as there are, with replacement, and takes every row
    of each drawn group; its length varies with the sizes of the groups drawn.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(n_boot):
            yield rng.integers(0, n, size=n)
        return
    _, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # rows of group 0, then group 1, ...
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    n_groups = len(sizes)
    for _ in range(n_boot):
        drawn = rng.integers(0, n_groups, size=n_groups)
        lengths = sizes[drawn]
        ends = np.cumsum(lengths)
        # position within the drawn group, added to that group's start in ``order``
        within = np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)
        yield order[np.repeat(starts[drawn], lengths) + within]


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


def _prepare(
    y_true: np.ndarray, probas: list[np.ndarray], groups: object | None, n_boot: int, level: float
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None, int, float]:
    y, first = check_labels_proba(y_true, probas[0], "proba_a" if len(probas) > 1 else "proba")
    checked = [first]
    for name, proba in zip(["proba_b"], probas[1:]):
        _, p = check_labels_proba(y, proba, name)
        if p.shape != first.shape:
            raise ValueError(f"proba_a and proba_b must have the same shape, got {first.shape} and {p.shape}")
        checked.append(p)
    g = None if groups is None else check_groups(groups, len(y))
    if g is not None and len(np.unique(g)) < 2:
        raise ValueError(f"groups must contain at least 2 distinct groups to resample, got {len(np.unique(g))}")
    return y, checked, g, _check_n_boot(n_boot), check_level(level)


def bootstrap_ci(
    metric: Metric,
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``metric(y_true, proba)``.

    With ``groups`` (e.g. patient ids) whole groups are resampled (cluster bootstrap), so rows
    of one patient are never split between "in" and "out" and their correlation widens the
    interval as it should. Resamples on which the metric is undefined (it raises ``ValueError``,
    as sklearn's AUC does with one class present, or returns NaN/inf) are skipped and counted
    in :attr:`Interval.n_skipped`; the same seed gives the same resamples, hence the same numbers.

    Args:
        metric: ``metric(y_true, proba) -> float``, e.g. :func:`macro_f1`.
        y_true: Integer labels, shape (n,).
        proba: Class probabilities, shape (n, K), rows summing to 1.
        groups: Optional cluster of each row, shape (n,); values are compared as strings.
        n_boot: Number of resamples.
        level: Coverage of the interval, in (0, 1).
        seed: Seed of the resampling.

    Raises:
        ValueError: Bad inputs, a metric undefined on the full data, or on every resample.
    """
    y, (p,), g, n_boot, level = _prepare(y_true, [proba], groups, n_boot, level)
    estimate = _full_data_value(metric, y, p, "proba")
    values = np.array([_evaluate(metric, y[idx], p[idx]) for idx in _resamples(len(y), g, n_boot, seed)])
    used = values[np.isfinite(values)]
    if used.size == 0:
        raise ValueError(f"the metric was undefined on all {n_boot} resamples")
    low, high = _percentiles(used, level)
    return Interval(estimate, low, high, level, int(used.size), n_boot - int(used.size))


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    *,
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
        groups: Optional cluster of each row for a cluster bootstrap (see :func:`bootstrap_ci`).
        n_boot: Number of resamples.
        level: Coverage of the interval, in (0, 1).
        seed: Seed of the resampling (the same seed as :func:`bootstrap_ci` draws the same resamples).
        metric_b: The metric of model b when it differs (e.g. another decision rule); default ``metric``.

    Raises:
        ValueError: Bad inputs, a metric undefined on the full data, or on every resample.
    """
    metric_b = metric if metric_b is None else metric_b
    y, (pa, pb), g, n_boot, level = _prepare(y_true, [proba_a, proba_b], groups, n_boot, level)
    diff = _full_data_value(metric, y, pa, "proba_a") - _full_data_value(metric_b, y, pb, "proba_b")
    deltas = np.array(
        [
            _evaluate(metric, y[idx], pa[idx]) - _evaluate(metric_b, y[idx], pb[idx])
            for idx in _resamples(len(y), g, n_boot, seed)
        ]
    )
    used = deltas[np.isfinite(deltas)]
    if used.size == 0:
        raise ValueError(f"the metric was undefined on all {n_boot} resamples")
    low, high = _percentiles(used, level)
    b = used.size
    p_value = min(1.0, 2 * min((1 + np.sum(used <= 0)) / (b + 1), (1 + np.sum(used >= 0)) / (b + 1)))
    return PairedDifference(diff, low, high, float(p_value), level, int(b), n_boot - int(b))
