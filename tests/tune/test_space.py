from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest

from raycxr.train import TrainConfig
from raycxr.tune import SearchSpace, load_space, make_sampler
from raycxr.tune._settings import SPACES_DIR

PAPER = {"freeze_ratio": 0.5, "beta": 0.05, "gamma": 0.1, "q": 0.25, "n": 0.001, "lr": 1e-4}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_shipped_spaces_load_and_contain_the_papers_values() -> None:
    freeze_net = load_space(SPACES_DIR / "freeze_net.yaml")
    for name, value in PAPER.items():
        param = freeze_net.params[name]
        assert param.low <= value <= param.high, name
    paper = load_space(SPACES_DIR / "paper.yaml")
    assert not paper.params and paper.search.num_samples == 1
    cfg = TrainConfig(**paper.settings({}))
    assert {k: getattr(cfg, k) for k in PAPER} == PAPER and cfg.loss == "attention" and cfg.head == "gmp"
    baselines = load_space(SPACES_DIR / "baselines.yaml")
    assert baselines.grid_size() == 12
    none = TrainConfig(**baselines.settings({"loss": "wcce", "freezing": "none"}))
    assert none.freeze_ratio == 0.0 and none.loss == "wcce"
    stochastic = TrainConfig(**baselines.settings({"loss": "ce", "freezing": "stochastic"}))
    assert stochastic.freeze_mode == "stochastic" and stochastic.freeze_ratio == 0.5


def test_grid_sampler_enumerates_every_baseline_once() -> None:
    space = load_space(SPACES_DIR / "baselines.yaml")
    study = optuna.create_study(sampler=make_sampler("grid", space, seed=0), direction="maximize")
    study.optimize(lambda trial: space.define(trial) or 0.0, n_trials=12)
    combos = {(t.params["loss"], t.params["freezing"]) for t in study.trials}
    assert len(combos) == 12


def test_conditional_parameter_only_when_its_condition_holds(tmp_path: Path) -> None:
    space = load_space(
        _write(
            tmp_path,
            """
params:
  loss: {type: categorical, choices: [ce, attention]}
  beta: {type: float, low: 0.0, high: 0.2, when: {loss: attention}}
  lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
""",
        )
    )
    study = optuna.create_study(sampler=make_sampler("random", space, seed=3))
    study.optimize(lambda trial: space.define(trial) or 0.0, n_trials=12)
    for trial in study.trials:
        assert ("beta" in trial.params) == (trial.params["loss"] == "attention")
    assert {t.params["loss"] for t in study.trials} == {"ce", "attention"}


def test_same_seed_same_suggestions() -> None:
    space = load_space(SPACES_DIR / "freeze_net.yaml")

    def suggestions(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=make_sampler("tpe", space, seed), direction="maximize")
        study.optimize(lambda trial: (space.define(trial), trial.params["lr"])[1], n_trials=12)
        return [t.params for t in study.trials]

    assert suggestions(7) == suggestions(7)
    assert suggestions(7) != suggestions(8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params: {lr: {type: float, low: 0.1, high: 0.01}}", "params.lr.float: Value error, low (0.1) must not be"),
        ("params: {lr: {type: float, low: 0, high: 0.01, log: true}}", "a log scale needs low > 0 (got low=0"),
        ("params: {loss: {type: categorical, choices: []}}", "params.loss.categorical.choices: Value should have"),
        ("params: {learning_rate: {type: float, low: 0, high: 1}}", "params.learning_rate: unknown parameter name"),
        ("params: {lr: {type: uniform, low: 0, high: 1}}", "params.lr: Input tag 'uniform' found using 'type'"),
        ("params: {lr: {type: float, low: 0.1, high: 1, scale: 2}}", "params.lr.float.scale: Extra inputs"),
        ("serach: {num_samples: 3}", "serach: Extra inputs are not permitted"),
        ("fixed: {freeze_ratio: 1.5}", "fixed.freeze_ratio: Input should be less than or equal to 1 (got 1.5)"),
        ("fixed: {data: /tmp}", "fixed.data: not a training setting of a trial"),
        ("params: {freeze_ratio: {type: float, low: 0, high: 2}}", "params.freeze_ratio: Input should be less than"),
        (
            "params: {image_size: {type: int, low: 32, high: 64}}",
            "params.image_size: the data is prepared once per value",
        ),
        (
            "params: {classes: {type: categorical, choices: [a]}}",
            "params.classes: the data is prepared once per experiment",
        ),
        (
            "params: {backbone: {type: categorical, choices: [vgg17]}}",
            "params.backbone: Value error, backbone must be one",
        ),
        (
            "params: {head: {type: categorical, choices: [gmp, vit]}}",
            "head must be one of gmp, gap, mlp, dense, got 'vit'",
        ),
        (
            "fixed: {loss: binary_focal, focal_alpha: 1.0}",
            "loss 'binary_focal': focal_alpha must be in (0, 1), got 1.0",
        ),
        (
            "params: {q: {type: float, low: 0, high: 1}}",
            "params.q: Value error, loss 'attention': q must be > 0, got 0.0. (got 0.0)",  # the loss registry's range
        ),
        (
            "fixed: {backbone: inception_v3}\nparams: {image_size: {type: categorical, choices: [64, 299]}}",
            "params.image_size: image_size must be at least 75 pixels for inception_v3, got 64",
        ),
        ("params: {beta: {type: float, low: 0, high: 1, when: {loss: ce}}}", "params.beta.when: 'loss' is not in"),
        ("params: [lr]", "params: Input should be a valid dictionary"),
        ("- just\n- a list", "expected a mapping of settings, got list"),
        ("params: {lr: {type: float, low: [1, high: 2}}", "not valid YAML"),
    ],
)
def test_bad_space_files_are_one_line_errors_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_space(path)
    message = str(error.value)
    assert expected in message, message
    assert message.startswith(str(path))


def test_model_zoo_searches_backbones_each_at_its_image_size() -> None:
    zoo = load_space(SPACES_DIR / "model_zoo.yaml")
    assert zoo.grid_size() == 40
    assert sorted(zoo.possible_values("image_size")) == [224, 299]
    assert "covidnet" not in zoo.possible_values("backbone") and len(zoo.possible_values("backbone")) == 10
    inception = TrainConfig(**zoo.settings({"model": "inception_v3", "freeze_ratio": 0.5, "loss": "ce"}))
    assert (inception.backbone, inception.image_size) == ("inception_v3", 299)
    resnet = TrainConfig(
        **zoo.settings({"model": "resnet18", "freeze_ratio": 0.0, "loss": "attention"}, {"image_size": 64})
    )
    assert (resnet.backbone, resnet.image_size) == ("resnet18", 64)  # the demo's size; Inception keeps its 299
    binary = load_space(SPACES_DIR / "course_binary.yaml")
    cfg = TrainConfig(**binary.settings({"lr": 1e-4, "focal_alpha": 0.25, "focal_gamma": 2.0, "head_dropout": 0.5,
                                         "freeze_ratio": 0.0})).check()  # fmt: skip
    assert (cfg.binary, cfg.classes, cfg.loss, cfg.head_widths) == (True, ["Normal", "COVID"], "binary_focal", [256])


def test_conditional_image_size_keeps_the_default_as_a_possible_value(tmp_path: Path) -> None:
    space = load_space(
        _write(
            tmp_path,
            "params:\n  backbone: {type: categorical, choices: [mobilenet_v2, inception_v3]}\n"
            "  image_size: {type: categorical, choices: [299], when: {backbone: inception_v3}}\n",
        )
    )
    assert sorted(space.possible_values("image_size")) == [224, 299]


def test_missing_space_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"space\.yaml does not exist"):
        load_space(tmp_path / "space.yaml")


def test_settings_from_outside_the_space_win_over_fixed_but_not_over_params() -> None:
    space = SearchSpace(fixed={"epochs": 30}, params={"lr": {"type": "float", "low": 1e-4, "high": 1e-2}})
    assert space.check({"epochs": 3}).settings({"lr": 1e-3}, {"epochs": 3}) == {"epochs": 3, "lr": 1e-3}
    with pytest.raises(ValueError, match=r"params\.lr: searched here"):
        space.check({"lr": 1e-3})


CONDITIONAL_ON_LOSS = """
params:
  beta: {type: float, low: 0.0, high: 0.2, when: {loss: attention}}
  gamma: {type: float, low: 0.0, high: 0.2, when: {loss: [ce, wcce]}}
  lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
"""


@pytest.mark.parametrize(("loss", "suggested"), [("attention", {"beta", "lr"}), ("ce", {"gamma", "lr"})])
def test_a_condition_on_a_setting_given_with_set_holds(tmp_path: Path, loss: str, suggested: set[str]) -> None:
    """``when: {loss: attention}`` with ``loss`` fixed by ``--set loss=attention`` (the search's ``base``)."""
    base = {"loss": loss, "seed": 0}
    space = load_space(_write(tmp_path, CONDITIONAL_ON_LOSS), base)
    define = pickle.loads(pickle.dumps(space.define_by_run(base)))  # Tune pickles the searcher with it
    study = optuna.create_study(sampler=make_sampler("random", space, seed=0))
    study.optimize(lambda trial: define(trial) or 0.0, n_trials=4)
    assert all(set(t.params) == suggested for t in study.trials), [t.params for t in study.trials]
    # Without base (or with one that does not satisfy the condition) only the unconditional lr is searched.
    study = optuna.create_study(sampler=make_sampler("random", space, seed=0))
    study.optimize(lambda trial: space.define(trial) or 0.0, n_trials=2)
    assert all(set(t.params) == {"lr"} for t in study.trials)


def test_optimizer_schedule_and_regularisation_settings_are_searchable(tmp_path: Path) -> None:
    space = load_space(
        _write(
            tmp_path,
            """
fixed: {epochs: 30}
params:
  optimizer: {type: categorical, choices: [adam, adamw, sgd]}
  weight_decay: {type: float, low: 1.0e-6, high: 1.0e-2, log: true}
  momentum: {type: float, low: 0.8, high: 0.99, when: {optimizer: sgd}}
  schedule: {type: categorical, choices: [constant, cosine, onecycle]}
  warmup_epochs: {type: int, low: 0, high: 5, when: {schedule: cosine}}
  label_smoothing: {type: float, low: 0.0, high: 0.2}
  ema_decay: {type: categorical, choices: [0.0, 0.999]}
""",
        )
    )
    study = optuna.create_study(sampler=make_sampler("random", space, seed=0))
    study.optimize(lambda trial: space.define(trial) or 0.0, n_trials=8)
    for trial in study.trials:
        cfg = TrainConfig(**space.settings(trial.params)).check()
        assert cfg.optimizer == trial.params["optimizer"] and cfg.weight_decay == trial.params["weight_decay"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "params: {optimizer: {type: categorical, choices: [adam, lion]}}",
            "params.optimizer: Value error, optimizer must be one of adam, adamw, sgd, got 'lion'.",
        ),
        (
            "params: {weight_decay: {type: float, low: -0.1, high: 0.1}}",
            "params.weight_decay: Value error, optimizer 'adam': weight_decay must be ≥ 0, got -0.1.",
        ),
        (
            "fixed: {optimizer: sgd}\nparams: {momentum: {type: float, low: 0.5, high: 1.0}}",
            "params.momentum: Value error, optimizer 'sgd': momentum must be in [0, 1), got 1.0.",
        ),
        (
            "fixed: {schedule: cosine, epochs: 3}\nparams: {warmup_epochs: {type: float, low: 0, high: 5}}",
            "params.warmup_epochs: schedule 'cosine': warmup_epochs (5) must be below epochs (3)",
        ),
        (
            "fixed: {label_smoothing: 0.1}\nparams: {loss: {type: categorical, choices: [ce, focal]}}",
            "params.loss: loss 'focal' does not support label smoothing (label_smoothing=0.1)",
        ),
        (
            "params: {ema_decay: {type: float, low: 0.9, high: 1.0}}",
            "params.ema_decay: Input should be less than 1 (got 1.0)",
        ),
    ],
)
def test_bad_recipe_values_in_a_space_file_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_space(path)
    message = str(error.value)
    assert expected in message, message
    assert all(line.startswith(str(path)) for line in message.splitlines())
