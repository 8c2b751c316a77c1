"""Objectives, constraints and the Pareto front (no Ray): parsing, dominance, feasibility, Optuna's constraints."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from raycxr.tune import MEASURABLE
from raycxr.tune._objectives import (
    Constraint,
    Objective,
    annotate,
    pareto_front,
    parse_constraint,
    parse_objectives,
)
from raycxr.tune._searcher import _OptunaSearch
from raycxr.tune._space import SearchSpace, make_sampler

KNOWN = ("best_val_f1_macro", "val_loss", "latency_ms", "macs", "params")


def test_pareto_front_by_hand() -> None:
    # (f1: max, latency: min)
    values = np.array(
        [
            [0.90, 30.0],  # front: best f1
            [0.80, 10.0],  # front
            [0.80, 12.0],  # dominated by row 1
            [0.70, 5.0],  # front: fastest
            [0.60, 6.0],  # dominated by row 3
            [0.80, 10.0],  # equal to row 1: both on the front
            [np.nan, 1.0],  # no value: never on the front, dominates nothing
        ]
    )
    front = pareto_front(values, ["max", "min"])
    assert front.tolist() == [True, True, False, True, False, True, False]
    # Directions matter: both minimised, only the fastest survives (and the NaN row still not).
    assert pareto_front(values, ["min", "min"]).tolist() == [False, False, False, True, True, False, False]
    assert pareto_front(np.empty((0, 2)), ["min", "max"]).tolist() == []
    with pytest.raises(ValueError, match=r"values must be \(trials, 3\)"):
        pareto_front(values, ["min", "max", "min"])


def test_three_objectives() -> None:
    values = np.array([[1, 1, 1], [0, 2, 2], [2, 0, 2], [2, 2, 2]], dtype=float)  # all minimised
    assert pareto_front(values, ["min"] * 3).tolist() == [True, True, True, False]


def test_parse_objectives() -> None:
    assert parse_objectives("best_val_f1_macro:max,params:min", KNOWN) == [
        Objective("best_val_f1_macro", "max"),
        Objective("params", "min"),
    ]
    # Without a direction: losses and model costs are minimised, scores maximised.
    assert [o.mode for o in parse_objectives(" val_loss , best_val_f1_macro, latency_ms", KNOWN)] == [
        "min",
        "max",
        "min",
    ]
    assert parse_objectives(["macs:min", "best_val_f1_macro:max"], KNOWN)[0] == Objective("macs", "min")
    with pytest.raises(ValueError, match=r"--objectives: unknown metric 'f2'; trials report best_val_f1_macro, "):
        parse_objectives("f2:max,params:min", KNOWN)
    with pytest.raises(ValueError, match=r"--objectives: the direction of 'params' must be min or max, got 'down'"):
        parse_objectives("best_val_f1_macro:max,params:down", KNOWN)
    with pytest.raises(ValueError, match=r"'params' is named twice"):
        parse_objectives("params:min,params:max", KNOWN)
    with pytest.raises(ValueError, match=r"expected METRIC:min\|max"):
        parse_objectives("params:min,,", KNOWN)


def test_parse_constraint_and_violation() -> None:
    assert parse_constraint("latency_ms<=20", KNOWN) == Constraint("latency_ms", "<=", 20.0)
    assert parse_constraint(" params < 1e6 ", KNOWN) == Constraint("params", "<", 1e6)
    assert str(parse_constraint("best_val_f1_macro>=0.8", KNOWN)) == "best_val_f1_macro>=0.8"
    assert str(parse_constraint("params<=2.328996e6", KNOWN)) == "params<=2328996"  # no digit lost
    for bad in ("latency_ms=20", "latency_ms<=", "<=20", "latency_ms<=twenty", "latency_ms =< 20"):
        with pytest.raises(ValueError, match=r"--constraint: cannot read .*expected METRIC<=VALUE"):
            parse_constraint(bad, KNOWN)
    with pytest.raises(ValueError, match=r"--constraint 'energy<=3': 'energy' is not measured; a constraint may name"):
        parse_constraint("energy<=3", KNOWN)

    le, lt = Constraint("latency_ms", "<=", 20), Constraint("latency_ms", "<", 20)
    ge, gt = Constraint("best_val_f1_macro", ">=", 0.8), Constraint("best_val_f1_macro", ">", 0.8)
    assert le.violation(15) == -5 and le.violation(20) == 0 and le.violation(25) == 5
    assert lt.violation(15) == -5 and lt.violation(20) > 0 and not lt.holds(20) and le.holds(20)
    assert ge.violation(0.9) == pytest.approx(-0.1) and ge.holds(0.8) and not gt.holds(0.8)
    assert gt.violation(0.7) == pytest.approx(0.1)
    assert le.violation(None) == math.inf and le.violation(float("nan")) == math.inf and not le.holds(None)


def test_annotate_marks_feasibility_and_the_front_of_finished_feasible_trials() -> None:
    frame = pd.DataFrame(
        {
            "trial_id": list("abcdef"),
            "status": ["completed", "completed", "completed", "errored", "completed", "running"],
            "best_val_f1_macro": [0.9, 0.8, 0.7, 0.99, 0.95, 0.99],
            "latency_ms": [30.0, 10.0, 5.0, 1.0, 25.0, 1.0],
        }
    )
    objectives = parse_objectives("best_val_f1_macro:max,latency_ms:min", KNOWN)
    table = annotate(frame, objectives, [Constraint("latency_ms", "<=", 26)])
    assert list(table.columns[:4]) == ["trial_id", "status", "feasible", "pareto"]
    assert table["feasible"].tolist() == [False, True, True, True, True, True]
    # a: infeasible; d: errored (the best values, but not finished); f: still running.
    assert table["pareto"].tolist() == [False, True, True, False, True, False]
    # Without the constraint a is feasible but e (more accurate and faster) dominates it.
    frame.loc[4, "latency_ms"] = 35.0  # now a is on the front too: faster than e
    assert annotate(frame, objectives, [])["pareto"].tolist() == [True, True, True, False, True, False]
    # One objective, no constraints: the table is left as it is.
    assert annotate(frame, objectives[:1], []).equals(frame)
    # Re-annotating a table read back from trials.csv replaces the columns (e dominates a there).
    again = annotate(table, objectives, [])
    assert "feasible" not in again and again["pareto"].tolist() == [False, True, True, False, True, False]


def test_searcher_tells_optuna_the_constraints(tmp_path) -> None:
    """Driven as Tune drives it: the last result's constraint values reach Optuna before the trial ends."""
    space = SearchSpace(params={"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    constraints = (Constraint("latency_ms", "<=", 20),)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = _OptunaSearch(
        space.define,
        constraints=constraints,
        metric=["best_val_f1_macro", "params"],
        mode=["max", "min"],
        points_to_evaluate=[{"lr": 1e-3}],
        sampler=make_sampler("nsga2", space, 0, population_size=4),
        study_name="mo",
        storage=optuna.storages.RDBStorage(storage),
    )
    results = {
        "fast": {"best_val_f1_macro": 0.7, "params": 100.0, "latency_ms": 5.0},
        "slow": {"best_val_f1_macro": 0.9, "params": 100.0, "latency_ms": 50.0},  # best, but infeasible
        "big": {"best_val_f1_macro": 0.8, "params": 200.0, "latency_ms": 10.0},
        "unmeasured": {"best_val_f1_macro": 0.95, "params": 50.0},  # no latency: infeasible
    }
    assert searcher.suggest("fast") == {"lr": 1e-3}  # the enqueued point comes first
    for trial_id, result in results.items():
        if trial_id != "fast":
            searcher.suggest(trial_id)
        searcher.on_trial_result(trial_id, {**result, "training_iteration": 1})
        searcher.on_trial_complete(trial_id, result={**result, "training_iteration": 1})

    study = optuna.load_study(study_name="mo", storage=storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.trials  # FrozenTrials, as a sampler sees them
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [t.values for t in trials] == [[0.7, 100.0], [0.9, 100.0], [0.8, 200.0], [0.95, 50.0]]
    assert [t.constraints for t in trials] == [
        {"latency_ms<=20": -15.0},
        {"latency_ms<=20": 30.0},
        {"latency_ms<=20": -10.0},
        {"latency_ms<=20": math.inf},
    ]
    assert [t.user_attrs.get("latency_ms") for t in trials] == [5.0, 50.0, 10.0, None]
    # Optuna's own front honours the constraint: the infeasible, better trials are not on it.
    assert sorted(t.number for t in study.best_trials) == [0, 2]
    # And NSGA-II (its first generation full) goes on sampling with them.
    assert searcher.suggest("next") is not None


def test_measurable_metrics_include_the_model_metrics() -> None:
    assert {"latency_ms", "macs", "params", "best_val_f1_macro", "train_loss"} <= set(MEASURABLE)


def test_plans_of_one_and_of_several_objectives(tmp_path) -> None:
    from raycxr.tune import TuneSettings, plan_search

    single = plan_search(TuneSettings(storage=str(tmp_path), name="single"))
    assert single.objectives == (Objective("best_val_f1_macro", "max"),) and not single.multi
    assert single.sampler == "tpe" and single.measure == () and single.constraints == () and single.points == ()
    # The space file's search section: two objectives, NSGA-II, latency measured by every trial.
    mobile = plan_search(TuneSettings(space="mobile", storage=str(tmp_path), name="mobile", set=["weights=none"]))
    assert mobile.objectives == (Objective("best_val_f1_macro", "max"), Objective("latency_ms", "min"))
    assert mobile.multi and mobile.sampler == "nsga2" and mobile.measure == ("latency_ms",)
    assert (mobile.metric, mobile.mode) == ("best_val_f1_macro", "max")  # the first objective
    # Options win over the space file; a constraint adds what it names to the measurements.
    plan = plan_search(
        TuneSettings(
            space="mobile",
            storage=str(tmp_path),
            name="options",
            set=["weights=none"],
            objectives="best_val_f1_macro,macs",
            constraints=["params<=3e6"],
            sampler="tpe",
            enqueue="paper",
        )
    )
    assert plan.objectives == (Objective("best_val_f1_macro", "max"), Objective("macs", "min"))
    assert plan.constraints == (Constraint("params", "<=", 3e6),) and plan.measure == ("macs", "params")
    assert plan.sampler == "tpe" and plan.points == ({"backbone": "mobilenet_v2", "freeze_ratio": 0.5, "lr": 1e-4},)
    # --metric still means one objective, even over a space file with several.
    one = plan_search(TuneSettings(space="mobile", storage=str(tmp_path), name="one", set=["weights=none"],
                                   metric="val_loss"))  # fmt: skip
    assert one.objectives == (Objective("val_loss", "min"),) and one.sampler == "nsga2"
