"""Percentile bootstrap intervals of every multi-label metric at once, resampling the test set's unit.

The multi-label counterpart of :func:`~raycxr.evaluation.bootstrap_ci`: the same resampling
designs (:func:`~raycxr.evaluation.resampling_design`: whole patients, or images below
:data:`~raycxr.evaluation.MIN_GROUPS` patients) and the same percentile interval, with
:func:`~raycxr.evaluation.multilabel_metrics` computed once per resample for all its keys.

A multi-label row has no single class to stratify or to redraw a group resample by, so the
resamples are unstratified: images drawn with replacement, or whole groups drawn with
replacement. A resample on which a label's metric is undefined (no known positive of it
drawn) leaves that resample out of the label's interval, counted in ``n_skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from raycxr.evaluation._bootstrap import Interval, _check_n_boot, _percentiles
from raycxr.evaluation._checks import check_level
from raycxr.evaluation._design import IMAGES, Design, resample_indices
from raycxr.evaluation._multilabel import multilabel_metrics

if TYPE_CHECKING:
    from raycxr.evaluation._decision import DecisionRule

#: The unit of an image design without classes to stratify by.
IMAGE_UNIT = "image"


def multilabel_bootstrap(
    labels: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    thresholds: Sequence[float] | np.ndarray | DecisionRule | None,
    keys: Sequence[str],
    *,
    design: Design = IMAGES,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of the multi-label metrics ``keys`` (e.g. ``auc_ovr_macro``, ``f1/Edema``).

    Args:
        labels: ``(N, L)`` label table, NaN unknown.
        proba: ``(N, L)`` per-label probabilities (uncalibrated).
        classes: The L label names.
        thresholds: As :func:`~raycxr.evaluation.multilabel_metrics` takes them (the model's rule).
        keys: Keys of :func:`~raycxr.evaluation.multilabel_metrics`' result.
        design: How to resample: images (default) or whole groups
            (:func:`~raycxr.evaluation.resampling_design`).
        n_boot: Number of resamples.
        level: Coverage of the intervals, in (0, 1).
        seed: Seed of the resampling (the same resamples for every key).

    Returns:
        ``{key: Interval}``. A key undefined on the full data (a label with no known positive)
        gets a NaN estimate and bounds, ``n_used`` 0 and a note saying so.

    Raises:
        ValueError: Bad labels, probabilities, thresholds, ``n_boot`` or ``level``; a key the metrics do not have.
    """
    n_boot, level = _check_n_boot(n_boot), check_level(level)
    full = multilabel_metrics(labels, proba, classes, thresholds)
    unknown = [key for key in keys if key not in full]
    if unknown:
        raise ValueError(f"unknown multi-label metric(s) {unknown}; known: {', '.join(full)}.")
    y, p = np.asarray(labels, dtype=np.float64), np.asarray(proba, dtype=np.float64)
    values = np.full((n_boot, len(keys)), np.nan)
    one_class = np.zeros(len(y), dtype=np.int64)  # no class to stratify or redraw by: plain resamples
    for b, (rows, _) in enumerate(resample_indices(one_class, design, n_boot, seed)):
        drawn = multilabel_metrics(y[rows], p[rows], classes, thresholds)
        values[b] = [drawn[key] for key in keys]
    unit = IMAGE_UNIT if design.unit == "image" else design.description
    out = {}
    for k, key in enumerate(keys):
        estimate = float(full[key])
        used = values[np.isfinite(values[:, k]), k]
        notes = [design.note] if design.note else []
        if not np.isfinite(estimate) or not used.size:
            notes.append("undefined on the full data" if not np.isfinite(estimate) else "undefined on every resample")
            out[key] = Interval(estimate, np.nan, np.nan, level, 0, n_boot, unit, 0, "; ".join(notes))
            continue
        low, high = _percentiles(used, level)
        skipped = n_boot - int(used.size)
        if skipped:
            notes.append(f"metric undefined on {skipped} of {n_boot} resamples (left out of the interval)")
        out[key] = Interval(estimate, low, high, level, int(used.size), skipped, unit, 0, "; ".join(notes))
    return out
