"""Coverage of the bootstrap intervals by simulation: how often they contain the true value.

A large finite population of (label, probabilities, group) rows stands for the world; its
metrics, computed once, are the truth. Each repetition draws a test set from it the way a
design assumes (images stratified by class, or whole groups), builds the interval with the
matching :func:`resampling_design`, and checks whether it contains the truth. Groups carry a
shared difficulty and a shared bias towards some classes, so rows of one group are correlated
and an image bootstrap of a group-drawn test set would be too narrow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np

from raycxr.evaluation._bootstrap import bootstrap_ci
from raycxr.evaluation._design import resampling_design
from raycxr.evaluation._metrics import accuracy, macro_auc, macro_f1

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclasses.dataclass(frozen=True)
class Population:
    """Rows of a simulated world: labels (n,), class probabilities (n, K) and group codes (n,)."""

    y: np.ndarray
    proba: np.ndarray
    groups: np.ndarray


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How one metric's intervals behaved over the repetitions of one design.

    Attributes:
        metric: Its name.
        design: The resampling unit of the intervals (e.g. ``"group (30 groups)"``).
        truth: The metric on the whole population.
        coverage: Share of the intervals containing ``truth``.
        mean_width: Mean of ``high − low``.
        estimate_inside: Share of the intervals containing their own estimate.
        n_reps, n_boot: Repetitions (test sets) and resamples per interval.
        redrawn: Mean group draws redrawn per interval because they lacked a class.
        skipped: Resamples, over all repetitions, on which the metric was undefined.
    """

    metric: str
    design: str
    truth: float
    coverage: float
    mean_width: float
    estimate_inside: float
    n_reps: int
    n_boot: int
    redrawn: float
    skipped: int


#: The metrics of the coverage study.
METRICS: dict[str, Metric] = {"accuracy": accuracy, "macro_f1": macro_f1, "macro_auc": macro_auc}


def simulate_population(
    n_groups: int = 1000,
    group_size: int = 10,
    class_shares: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1),
    separation: float = 2.5,
    group_spread: float = 1.0,
    seed: int = 0,
) -> Population:
    """A population of ``n_groups × group_size`` rows whose groups differ in class mix and difficulty.

    Each group draws its class mix from a Dirichlet around ``class_shares``, a difficulty
    ``u ~ N(0, group_spread)`` and a bias ``v ~ N(0, group_spread / 2)`` per class; a row's logits
    are ``N(0, 1) + v`` with ``separation + u`` added to its true class.
    """
    rng = np.random.default_rng(seed)
    shares = np.asarray(class_shares, dtype=float)
    k = len(shares)
    mix = rng.dirichlet(2 * k * shares / shares.sum(), size=n_groups)
    groups = np.repeat(np.arange(n_groups), group_size)
    cumulative = mix.cumsum(axis=1)[groups]
    y = np.minimum((rng.random(len(groups))[:, None] > cumulative).sum(axis=1), k - 1)
    difficulty = rng.normal(0, group_spread, n_groups)
    bias = rng.normal(0, group_spread / 2, (n_groups, k))
    logits = rng.normal(size=(len(groups), k)) + bias[groups]
    logits[np.arange(len(groups)), y] += separation + difficulty[groups]
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    return Population(y, proba / proba.sum(axis=1, keepdims=True), groups)


def draw_test_set(
    population: Population, drawn_by: Literal["images", "groups"], size: int, rng: np.random.Generator
) -> np.ndarray:
    """Rows of one test set: ``size`` images stratified by class, or all rows of ``size`` groups (no replacement)."""
    if drawn_by == "images":
        counts = np.bincount(population.y)
        take = np.rint(size * counts / counts.sum()).astype(int)
        return np.concatenate(
            [rng.choice(np.flatnonzero(population.y == c), t, replace=False) for c, t in enumerate(take)]
        )
    chosen = rng.choice(np.unique(population.groups), size, replace=False)
    return np.flatnonzero(np.isin(population.groups, chosen))


def bootstrap_coverage(
    population: Population,
    drawn_by: Literal["images", "groups"],
    size: int,
    metrics: Mapping[str, Metric] = METRICS,
    n_reps: int = 200,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    resample_by: Literal["images", "groups"] | None = None,
) -> list[Coverage]:
    """Coverage of :func:`bootstrap_ci` for test sets drawn by ``drawn_by`` (``size`` images or groups).

    Every metric is scored on the same ``n_reps`` test sets; each interval uses the design
    :func:`resampling_design` picks for ``resample_by`` (default: ``drawn_by``, the honest
    design; a group draw of fewer than 20 groups is then resampled by image, and ``design``
    says so). Pass the other unit to measure what the wrong one costs.
    """
    truths = {name: float(metric(population.y, population.proba)) for name, metric in metrics.items()}
    rng = np.random.default_rng(seed)
    hits = {name: [] for name in metrics}
    units: set[str] = set()
    for rep in range(n_reps):
        rows = draw_test_set(population, drawn_by, size, rng)
        y, proba = population.y[rows], population.proba[rows]
        design = resampling_design(resample_by or drawn_by, population.groups[rows])
        for name, metric in metrics.items():
            ci = bootstrap_ci(metric, y, proba, design=design, n_boot=n_boot, level=level, seed=seed + rep)
            units.add(ci.unit)
            hits[name].append((ci.low, ci.high, ci.estimate, ci.n_redrawn, ci.n_skipped))
    result = []
    for name, rows in hits.items():
        low, high, estimate, redrawn, skipped = np.array(rows).T
        truth = truths[name]
        result.append(
            Coverage(
                metric=name,
                design=" / ".join(sorted(units)),
                truth=truth,
                coverage=float(np.mean((low <= truth) & (truth <= high))),
                mean_width=float(np.mean(high - low)),
                estimate_inside=float(np.mean((low <= estimate) & (estimate <= high))),
                n_reps=n_reps,
                n_boot=n_boot,
                redrawn=float(redrawn.mean()),
                skipped=int(skipped.sum()),
            )
        )
    return result
