"""Plain PNG figures: reliability diagrams and precision-recall curves.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so importing this module never
changes the process-wide backend and nothing needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from raycxr.evaluation._calibration import expected_calibration_error, reliability_curve
from raycxr.evaluation._checks import check_labels_proba, check_n_bins
from raycxr.evaluation._precision_recall import _class_names, precision_recall_curves

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(**kwargs: object) -> Figure:
    """A matplotlib figure; matplotlib is imported here, when a figure is drawn (0.5 s a process: every search
    trial imports this package and never draws)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=120)
    return path


def plot_reliability(
    y_true: np.ndarray,
    proba: np.ndarray,
    path: str | Path,
    *,
    proba_calibrated: np.ndarray | None = None,
    n_bins: int = 15,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Reliability diagram, one panel per class (one-vs-rest), before and after calibration if given.

    Each panel plots the observed frequency of the class against the mean predicted probability
    per non-empty bin, with the diagonal of perfect calibration; the title gives the top-label ECE.

    Args:
        y_true: Integer labels, shape (n,).
        proba: Probabilities, shape (n, K).
        path: PNG file to write (parent folders are created).
        proba_calibrated: Optional probabilities after calibration (e.g. temperature scaling) of the same rows.
        n_bins: Equal-width bins per panel.
        class_names: Optional names of the K columns.

    Returns:
        The path written.

    Raises:
        ValueError: Bad labels/probabilities, ``n_bins < 1`` or ``class_names`` of the wrong length.
    """
    y, p = check_labels_proba(y_true, proba)
    n_bins = check_n_bins(n_bins)
    series = [("before", p)]
    if proba_calibrated is not None:
        _, q = check_labels_proba(y, proba_calibrated, "proba_calibrated")
        if q.shape != p.shape:
            raise ValueError(f"proba_calibrated must have the shape of proba {p.shape}, got {q.shape}")
        series.append(("after", q))
    k = p.shape[1]
    names = _class_names(class_names, k)
    cols = min(k, 4)
    rows = math.ceil(k / cols)
    fig = _figure(figsize=(3.2 * cols, 3.2 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for c in range(k):
        ax = axes[c]
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
        for label, probs in series:
            curve = reliability_curve(y, probs, c, n_bins)
            ax.plot(curve.mean_predicted, curve.observed, marker="o", markersize=3, label=label)
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), title=names[c], xlabel="mean predicted probability")
        ax.set_aspect("equal")
        if c % cols == 0:
            ax.set_ylabel("observed frequency")
    for ax in axes[k:]:
        ax.set_axis_off()
    if len(series) > 1:
        axes[0].legend(loc="upper left", fontsize="small")
    eces = ", ".join(f"{label} {expected_calibration_error(y, probs, n_bins):.3f}" for label, probs in series)
    fig.suptitle(f"Reliability (one-vs-rest, {n_bins} bins); top-label ECE: {eces}")
    return _save(fig, path)


def plot_precision_recall(
    y_true: np.ndarray, proba: np.ndarray, path: str | Path, *, class_names: Sequence[str] | None = None
) -> Path:
    """One-vs-rest precision-recall curve of every class on one axes, with its AP and chance level.

    Returns:
        The path written.

    Raises:
        ValueError: As :func:`precision_recall_curves`, or ``class_names`` of the wrong length.
    """
    curves = precision_recall_curves(y_true, proba)
    names = _class_names(class_names, len(curves))
    fig = _figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for k, curve in curves.items():
        (line,) = ax.step(
            curve.recall, curve.precision, where="post", label=f"{names[k]} (AP {curve.average_precision:.3f})"
        )
        ax.axhline(curve.prevalence, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    ax.set_title("Precision-recall (one-vs-rest); dotted: prevalence")
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)
