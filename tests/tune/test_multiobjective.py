"""A multi-objective search end to end on a local Ray cluster (2 CPUs), real Optuna (NSGA-II).

One search serves every check: two objectives (macro-F1 up, parameters down), a constraint
that rules out the big head, another on the measured latency, and two enqueued points.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
import ray

from raycxr.experiment import BEST_FILE, STUDY_FILE, TRIALS_FILE
from raycxr.models import build_model
from raycxr.tune import TuneSettings, run_search
from raycxr.tune._measure import count_params
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow

SPACE = """
params:
  head: {type: categorical, choices: [gap, mlp]}
  freeze_ratio: {type: float, low: 0.5, high: 0.9}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""
POINTS = [
    {"head": "gap", "freeze_ratio": 0.5, "lr": 1e-3},
    {"head": "mlp", "freeze_ratio": 0.7, "lr": 3e-3},
]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _front_by_hand(rows: pd.DataFrame) -> set[str]:
    """Trials no other beats on both objectives (macro-F1 max, params min): plain loops."""
    front = set()
    for _, a in rows.iterrows():
        dominated = any(
            b["best_val_f1_macro"] >= a["best_val_f1_macro"]
            and b["params"] <= a["params"]
            and (b["best_val_f1_macro"] > a["best_val_f1_macro"] or b["params"] < a["params"])
            for _, b in rows.iterrows()
        )
        if not dominated:
            front.add(a["trial_id"])
    return front


def test_two_objectives_constraints_and_warm_start(ray_cluster, tiny_dataset: Path, tmp_path: Path) -> None:
    space = tmp_path / "heads.yaml"
    space.write_text(SPACE)
    points = tmp_path / "points.json"
    points.write_text(json.dumps(POINTS))
    # Between the small (gap) and the big (mlp: + 512 + 256 units) network: only gap heads are feasible.
    limit = (
        count_params(build_model("mobilenet_v2", num_classes=4, weights="none", head="gap", image_size=64)) + 100_000
    )
    settings = TuneSettings(
        space=str(space),
        data=tiny_dataset,
        storage=str(tmp_path),
        name="mo",
        num_samples=4,
        seed=0,
        objectives="best_val_f1_macro:max,params:min",
        constraints=[f"params<={limit}", "latency_ms<=60000"],
        enqueue=str(points),
        set=[*(s for s in FAST if not s.startswith("head=")), "epochs=1"],
    )
    result = run_search(settings)
    directory = tmp_path / "mo"
    trials = pd.read_csv(directory / TRIALS_FILE).sort_values("trial_id", ignore_index=True)
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials[["status", "error"]]
    assert {"best_val_f1_macro", "params", "latency_ms", "feasible", "pareto"} <= set(trials.columns)
    assert (trials["latency_ms"] > 0).all() and (trials["params"] > 1e6).all()

    # Warm start: the first trials (Optuna's trial numbers are Tune's order of suggestions)
    # are the enqueued points, in order, and trained with them.
    study = optuna.load_study(study_name="mo", storage=f"sqlite:///{directory / STUDY_FILE}")
    for number, point in enumerate(POINTS):
        assert study.trials[number].params == point
        (row,) = trials[(trials["param_lr"] == point["lr"]) & (trials["param_head"] == point["head"])].itertuples()
        assert row.param_freeze_ratio == point["freeze_ratio"]

    # Constraints: exactly the big-head trials are infeasible; the front is the hand-computed
    # front of the feasible finished trials, and not empty.
    assert trials["feasible"].tolist() == (trials["param_head"] == "gap").tolist()
    feasible = trials[trials["feasible"]]
    front = set(trials.loc[trials["pareto"], "trial_id"])
    assert front and front == _front_by_hand(feasible)

    # best_config.json lists the front, first objective first; the summary has it too.
    best = json.loads((directory / BEST_FILE).read_text())
    assert [o["metric"] for o in best["objectives"]] == ["best_val_f1_macro", "params"]
    assert best["constraints"] == [f"params<={limit}", "latency_ms<=60000"]
    assert {entry["trial_id"] for entry in best["pareto"]} == front
    f1 = [entry["values"]["best_val_f1_macro"] for entry in best["pareto"]]
    assert f1 == sorted(f1, reverse=True)
    entry = best["pareto"][0]
    assert entry["train_config"]["head"] == entry["params"]["head"] == "gap" and "latency_ms" in entry["metrics"]
    assert result.best == best and result.plan.multi
    assert (directory / "pareto.png").read_bytes()[:4] == b"\x89PNG"

    # optuna.db: two directions, constraint values on every trial, the same front.
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for trial in study.trials:
        (row,) = trials[(trials["param_lr"] - trial.params["lr"]).abs() < 1e-12].itertuples()
        assert trial.values == pytest.approx([row.best_val_f1_macro, row.params])
        assert trial.user_attrs["latency_ms"] == pytest.approx(row.latency_ms)
        assert (max(trial.constraints.values()) <= 0) == row.feasible
    optuna_front = {round(t.params["lr"], 12) for t in study.best_trials}
    assert optuna_front == {round(lr, 12) for lr in trials.loc[trials["pareto"], "param_lr"]}
