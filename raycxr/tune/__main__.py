"""``python -m raycxr.tune``: search Mobile Freeze-Net configurations with Ray Tune + Optuna."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from raycxr.train import add_config_options, run_from_args
from raycxr.tune._finish import SearchResult
from raycxr.tune._nested import nested_summary
from raycxr.tune._search import run_search
from raycxr.tune._settings import TuneSettings


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.tune",
        description="Search Mobile Freeze-Net settings (freeze ratio, attention-loss beta/gamma/q/n, lr …) with "
        "Ray Tune and Optuna; every trial is a Ray Train run. Without --data it runs a small demo search on "
        "synthetic radiographs. Writes STORAGE/NAME/: Tune's trial folders with TensorBoard files, trials.csv, "
        "best_config.json and the Optuna study optuna.db.",
    )
    add_config_options(parser, TuneSettings, skip=("set", "constraints"))
    parser.add_argument(
        "--set",
        action="append",
        dest="set",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="a training setting for every trial, e.g. --set epochs=10 (repeatable; see python -m raycxr.train -h)",
    )
    parser.add_argument(
        "--constraint",
        action="append",
        dest="constraints",
        default=argparse.SUPPRESS,
        metavar="METRIC<=VALUE",
        help="a constraint every good trial meets, e.g. --constraint 'latency_ms<=20' (operators <=, >=, <, >; "
        "repeatable): trials that break one are infeasible, never on the Pareto front or best; NSGA-II and TPE "
        "sample with it (Optuna's Trial.set_constraint)",
    )
    return parser


def summary(result: SearchResult) -> str:
    if result.nested is not None:
        where = result.plan.experiment_path
        return nested_summary(result.nested) + f"\nResults: {where}/nested.csv, {where}/nested/outer*/"
    trials = result.trials
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    lines = [f"Trials: {', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none'}."]
    for _, row in trials[trials["status"] == "errored"].iterrows() if len(trials) else []:
        lines.append(f"  trial {row['trial_id']} errored: {row['error']}")
    if result.best is not None and "pareto" in result.best:
        lines += _front_lines(result.best)
    elif result.best is not None:
        best = result.best
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(
            f"Best trial {best['trial_id']}: {best['metric']} = {best['value']:.4f} ({params or 'no parameters'})"
        )
        lines.append("  " + ", ".join(f"{k} {v:.4f}" for k, v in best["metrics"].items()))
    where = result.plan.experiment_path
    figure = f", {where}/pareto.png" if result.plan.multi and result.best is not None else ""
    lines.append(f"Results: {where}/trials.csv, {where}/best_config.json, {where}/optuna.db{figure}")
    if result.interrupted:
        plan = result.plan
        lines.append(
            f"Interrupted. Continue with: python -m raycxr.tune --storage {plan.settings.storage} "
            f"--name {plan.name} --resume"
        )
    return "\n".join(lines)


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _front_lines(best: dict) -> list[str]:
    """The Pareto front of a multi-objective search, one trial a line."""
    goals = ", ".join(f"{o['metric']} ({o['mode']})" for o in best["objectives"])
    constraints = f"; constraints {', '.join(best['constraints'])}" if best["constraints"] else ""
    lines = [f"Pareto front over {goals}{constraints}: {len(best['pareto'])} trial(s)"]
    for entry in best["pareto"]:
        values = ", ".join(f"{k} {_format(v)}" for k, v in entry["values"].items())
        params = ", ".join(f"{k}={_format(v)}" for k, v in entry["params"].items())
        lines.append(f"  trial {entry['trial_id']}: {values} ({params or 'no parameters'})")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    result = run_from_args(cli, args, TuneSettings, run_search)
    print(summary(result), flush=True)


if __name__ == "__main__":
    main()
