"""The Pareto front of a multi-objective search as a figure: ``EXPERIMENT/pareto.png``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from raycxr.tune._objectives import FEASIBLE, FINISHED, PARETO, Objective, annotate, parse_objectives


def _objectives(objectives: Sequence[Objective | str | tuple[str, str]] | str) -> list[Objective]:
    items = objectives.split(",") if isinstance(objectives, str) else list(objectives)
    result = []
    for item in items:
        if isinstance(item, Objective):
            result.append(item)
        elif isinstance(item, tuple):
            result.append(Objective(item[0], item[1]))  # type: ignore[arg-type]
        else:
            result += parse_objectives(str(item), known=[str(item).partition(":")[0].strip()])
    return result


def plot_pareto(
    trials_csv: str | Path, objectives: Sequence[Objective | str | tuple[str, str]] | str, out_png: str | Path
) -> Path:
    """Scatter the finished trials of ``trials.csv`` over each pair of objectives, the front highlighted.

    Args:
        trials_csv: A search's ``trials.csv``. Its ``pareto`` and ``feasible`` columns are
            used as they are; without a ``pareto`` column the front is computed here.
        objectives: ``Objective``s, ``"metric:mode"`` strings (or one comma-separated
            string), or ``(metric, mode)`` pairs; at least two.
        out_png: Where to write the figure.

    Returns:
        ``out_png`` as a path. Two objectives give one panel (the front joined as a staircase),
        k objectives one panel per pair (k·(k−1)/2); infeasible trials are crosses.

    Raises:
        ValueError: Fewer than two objectives, or an objective that is no column of the file.
    """
    goals = _objectives(objectives)
    if len(goals) < 2:
        raise ValueError(f"plot_pareto needs at least two objectives, got {[str(g) for g in goals]}.")
    frame = pd.read_csv(trials_csv)
    missing = [g.metric for g in goals if g.metric not in frame]
    if missing:
        raise ValueError(f"{trials_csv}: no column {', '.join(missing)} (objectives {[str(g) for g in goals]}).")
    if PARETO not in frame:
        frame = annotate(frame, goals, [])
    done = frame[frame["status"].isin(FINISHED)] if "status" in frame else frame
    on_front = done[PARETO].astype(bool)
    ok = done[FEASIBLE].astype(bool) if FEASIBLE in done else pd.Series(True, index=done.index)
    pairs = list(itertools.combinations(goals, 2))
    from matplotlib.figure import Figure  # here: every search trial imports raycxr.tune and never plots

    figure = Figure(figsize=(5.5 * len(pairs), 4.5), layout="constrained")
    axes = figure.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (y, x) in zip(axes, pairs):  # the first objective (accuracy, usually) up the y axis
        dominated = done[~on_front & ok]
        ax.scatter(dominated[x.metric], dominated[y.metric], c="0.6", s=25, label="dominated")
        bad = done[~ok]
        if len(bad):
            ax.scatter(bad[x.metric], bad[y.metric], c="tab:red", marker="x", s=30, label="infeasible")
        front = done[on_front].sort_values(x.metric, ascending=x.mode == "min")
        ax.scatter(front[x.metric], front[y.metric], c="tab:blue", s=45, zorder=3, label="Pareto front")
        if len(goals) == 2 and len(front) > 1:
            ax.step(front[x.metric], front[y.metric], where="post", c="tab:blue", lw=1, zorder=2)
        for _, row in front.iterrows():
            ax.annotate(str(row.get("trial_id", ""))[-5:], (row[x.metric], row[y.metric]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_xlabel(f"{x.metric} ({'lower' if x.mode == 'min' else 'higher'} is better)")
        ax.set_ylabel(f"{y.metric} ({'lower' if y.mode == 'min' else 'higher'} is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(f"Pareto front: {int(on_front.sum())} of {len(done)} finished trials")
    out = Path(out_png)
    figure.savefig(out, dpi=120)
    return out
