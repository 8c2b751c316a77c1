"""Warm start (``--enqueue``): the paper's point in each shipped space, files, and every one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from raycxr.tune import SearchSpace, load_space
from raycxr.tune._enqueue import PAPER_POINT, check_point, enqueue_points, read_points
from raycxr.tune._settings import SPACES_DIR
from tests.tune.conftest import CONDITIONAL_SPACE

CONDITIONAL = SearchSpace(**yaml.safe_load(CONDITIONAL_SPACE))


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ("freeze_net", {"freeze_ratio": 0.5, "beta": 0.05, "gamma": 0.1, "q": 0.25, "n": 0.001, "lr": 1e-4}),
        ("mobile", {"backbone": "mobilenet_v2", "freeze_ratio": 0.5, "lr": 1e-4}),
        ("baselines", {"loss": "attention", "freezing": "prefix"}),  # a preset: the choice that agrees
    ],
)
def test_the_paper_point_of_each_space(space: str, expected: dict) -> None:
    points, notes = enqueue_points("paper", load_space(SPACES_DIR / f"{space}.yaml"))
    assert points == [expected] and notes == []


def test_the_paper_point_is_restricted_to_the_searched_parameters() -> None:
    # The conditional space searches beta only for the attention loss, as the paper's point has it.
    (point,), _ = enqueue_points("paper", CONDITIONAL)
    assert point == {"loss": "attention", "beta": 0.05, "freeze_ratio": 0.5, "lr": 1e-4}
    # A fixed setting that differs from the paper's is kept, and said.
    space = SearchSpace(fixed={"loss": "ce"}, params={"lr": {"type": "float", "low": 1e-5, "high": 1e-2}})
    points, notes = enqueue_points("paper", space)
    assert points == [{"lr": 1e-4}] and notes == ["loss='ce' (the paper's is 'attention')"]
    # A searched parameter the paper does not set is an error naming it.
    space = SearchSpace(params={"batch_size": {"type": "categorical", "choices": [8, 16]}})
    with pytest.raises(ValueError, match=r"--enqueue paper: the space searches 'batch_size', which the paper's"):
        enqueue_points("paper", space)
    # A paper value outside the space's range is an error too.
    space = SearchSpace(params={"lr": {"type": "float", "low": 1e-3, "high": 1e-2}})
    with pytest.raises(ValueError, match=r"--enqueue paper: point 1: parameter 'lr' = 0.0001 is outside \[0.001, "):
        enqueue_points("paper", space)
    assert PAPER_POINT["freeze_ratio"] == 0.5


def test_points_from_files(tmp_path: Path) -> None:
    listed = tmp_path / "points.yaml"
    listed.write_text(
        "- {loss: ce, freeze_ratio: 0.6, lr: 1.0e-3}\n- {loss: attention, beta: 0, freeze_ratio: 0.9, lr: 0.01}\n"
    )
    points, _ = enqueue_points(str(listed), CONDITIONAL)
    assert points == [
        {"loss": "ce", "freeze_ratio": 0.6, "lr": 1e-3},
        {"loss": "attention", "beta": 0.0, "freeze_ratio": 0.9, "lr": 0.01},
    ]
    assert isinstance(points[1]["beta"], float)  # YAML's 0 for a float range
    # A previous search's best_config.json: one point, or its Pareto front.
    best = tmp_path / "best_config.json"
    best.write_text(json.dumps({"trial_id": "x", "params": {"loss": "ce", "freeze_ratio": 0.5, "lr": 0.001}}))
    assert read_points(best) == [{"loss": "ce", "freeze_ratio": 0.5, "lr": 0.001}]
    front = tmp_path / "front.json"
    front.write_text(json.dumps({"pareto": [{"params": {"lr": 0.001}}, {"params": {"lr": 0.002}}]}))
    assert read_points(front) == [{"lr": 0.001}, {"lr": 0.002}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{loss: ce, freeze_ratio: 0.6, lr: 0.001}, {loss: ce, freeze_ratio: 0.6, lr: 0.001, wd: 1}]",
         r"point 2: unknown parameter 'wd' = 1 \(the space searches loss, beta, freeze_ratio, lr\)"),
        ("[{loss: ce, freeze_ratio: 0.95, lr: 0.001}]",
         r"point 1: parameter 'freeze_ratio' = 0.95 is outside \[0.5, 0.9\]"),
        ("[{loss: mse, freeze_ratio: 0.6, lr: 0.001}]",
         r"point 1: parameter 'loss' = 'mse' is not one of \['ce', 'attention'\]"),
        ("[{loss: ce, freeze_ratio: 0.6}]", r"point 1: parameter 'lr' is not set"),
        ("[{loss: ce, beta: 0.05, freeze_ratio: 0.6, lr: 0.001}]",
         r"point 1: parameter 'beta' = 0.05 is not searched here \(its condition \{'loss': 'attention'\} fails\)"),
        ("[{loss: attention, beta: fast, freeze_ratio: 0.6, lr: 0.001}]",
         r"point 1: parameter 'beta' = 'fast' is not a number"),
        ("[{loss: ce, freeze_ratio: true, lr: 0.001}]", r"point 1: parameter 'freeze_ratio' = True is not a number"),
        ("[3]", r"point 1 is not a dict of parameters \(got 3\)"),
        ("{loss: ce}", r"expected a list of parameter dicts, got dict"),
        ("[{a: 1}", r"cannot read it"),
    ],
)  # fmt: skip
def test_bad_points_name_the_file_point_parameter_and_value(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "points.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"^--enqueue {path}: {message}") as error:
        enqueue_points(str(path), CONDITIONAL)
    assert "\n" not in str(error.value)


def test_more_points_than_trials_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "points.json"
    path.write_text(json.dumps([{"loss": "ce", "freeze_ratio": 0.6, "lr": 0.001}] * 3))
    with pytest.raises(ValueError, match=r"3 points but only 2 trials \(--num-samples\)"):
        enqueue_points(str(path), CONDITIONAL, num_samples=2)
    with pytest.raises(ValueError, match=r"--enqueue: .*none.json does not exist \(give 'paper' or a JSON/YAML file\)"):
        enqueue_points(str(tmp_path / "none.json"), CONDITIONAL)


def test_int_steps_and_float_steps() -> None:
    space = SearchSpace(
        params={
            "epochs": {"type": "int", "low": 2, "high": 10, "step": 2},
            "lr": {"type": "float", "low": 0.001, "high": 0.01, "step": 0.001},
        }
    )
    assert check_point({"epochs": 4, "lr": 0.003}, space) is None
    assert check_point({"epochs": 5, "lr": 0.003}, space) == "parameter 'epochs' = 5 is not on the grid 2 + k·2"
    assert check_point({"epochs": 4.5, "lr": 0.003}, space) == (
        "parameter 'epochs' = 4.5 is not an integer (int in [2, 10])"
    )
    assert check_point({"epochs": 4, "lr": 0.0035}, space).startswith("parameter 'lr' = 0.0035 is not on the grid")
