"""TrainConfig's optimizer, schedule and regularisation fields: registry ranges, cross-field rules, the CLI."""

from __future__ import annotations

import argparse

import pytest

from raycxr.optim import optimizer_fields, schedule_fields
from raycxr.train import TrainConfig, add_config_options, config_from_args
from tests.train.errors import config_error


def test_the_defaults_are_the_papers_recipe() -> None:
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.schedule) == ("adam", 1e-4, 0.0, "constant")
    assert (cfg.grad_clip_norm, cfg.label_smoothing, cfg.ema_decay) == (0.0, 0.0, 0.0)


def test_no_optimizer_or_schedule_parameter_has_a_bound_of_its_own() -> None:
    """The registries are the only place their parameters' ranges are declared."""
    for field in (*optimizer_fields(), *schedule_fields()):
        assert TrainConfig.model_fields[field].metadata == [], field


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"optimizer": "lion"}, "optimizer: Value error, optimizer must be one of adam, adamw, sgd, got 'lion'."),
        ({"schedule": "poly"}, "schedule: Value error, schedule must be one of constant, cosine, onecycle, step"),
        ({"weight_decay": -0.1}, "weight_decay: Value error, optimizer 'adam': weight_decay must be ≥ 0, got -0.1."),
        (
            {"optimizer": "sgd", "momentum": 1.0},
            "momentum: Value error, optimizer 'sgd': momentum must be in [0, 1), got 1.0.",
        ),
        ({"momentum": -1}, "momentum: Value error, momentum must be a number in [0, 1) (optimizer 'sgd'), got -1.0."),
        ({"warmup_epochs": -1}, "warmup_epochs: Value error, warmup_epochs must be a number ≥ 0 (schedule 'cosine')"),
        (
            {"schedule": "step", "step_gamma": 2.0},
            "step_gamma: Value error, schedule 'step': step_gamma must be in (0, 1], got 2.0.",
        ),
        ({"label_smoothing": 1.0}, "label_smoothing: Input should be less than 1"),
        ({"ema_decay": 1.0}, "ema_decay: Input should be less than 1"),
        ({"grad_clip_norm": -1.0}, "grad_clip_norm: Input should be greater than or equal to 0"),
    ],
)
def test_an_out_of_range_value_is_one_line_naming_it_and_its_range(settings: dict, message: str) -> None:
    assert config_error(**settings).startswith(message)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"optimizer": "sgd", "momentum": 0.0, "nesterov": True},
            "optimizer 'sgd': nesterov needs momentum > 0, got momentum=0.0.",
        ),
        (
            {"schedule": "cosine", "warmup_epochs": 3, "epochs": 3},
            "schedule 'cosine': warmup_epochs (3) must be below epochs (3), else the warm-up never ends.",
        ),
        (
            {"schedule": "plateau", "plateau_patience": 3, "patience": 4},
            "schedule 'plateau': plateau_patience (3) must be at most patience − 2 (2)",
        ),
        (
            {"loss": "focal", "label_smoothing": 0.1},
            "loss 'focal' does not support label smoothing (label_smoothing=0.1); the losses that do: attention, ce",
        ),
    ],
)
def test_combinations_are_refused_by_check_in_one_line(settings: dict, message: str) -> None:
    cfg = TrainConfig(**settings)
    with pytest.raises(ValueError) as error:
        cfg.check()
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_unread_settings_only_need_to_be_valid_for_some_entry() -> None:
    """As for loss fields: nesterov without momentum is fine while the optimizer is Adam (it is not read)."""
    TrainConfig(optimizer="adam", momentum=0.0, nesterov=True, warmup_epochs=50, epochs=3).check()


def test_the_cli_has_a_flag_for_every_new_field() -> None:
    parser = argparse.ArgumentParser()
    add_config_options(parser, TrainConfig)
    argv = [
        "--optimizer",
        "sgd",
        "--momentum",
        "0.8",
        "--nesterov",
        "--weight-decay",
        "1e-4",
        "--decay-norm-bias",
        "--schedule",
        "cosine",
        "--warmup-epochs",
        "1.5",
        "--min-lr-ratio",
        "0.01",
        "--grad-clip-norm",
        "2",
        "--label-smoothing",
        "0.1",
        "--ema-decay",
        "0.99",
        "--step-epochs",
        "3",
        "--plateau-patience",
        "1",
        "--onecycle-pct-start",
        "0.2",
        "--step-gamma",
        "0.5",
        "--plateau-factor",
        "0.2",
    ]
    cfg = config_from_args(parser.parse_args(argv), TrainConfig).check()
    assert (cfg.optimizer, cfg.momentum, cfg.nesterov, cfg.weight_decay, cfg.decay_norm_bias) == (
        "sgd", 0.8, True, 1e-4, True,
    )  # fmt: skip
    assert (cfg.schedule, cfg.warmup_epochs, cfg.min_lr_ratio, cfg.step_epochs) == ("cosine", 1.5, 0.01, 3)
    assert (cfg.grad_clip_norm, cfg.label_smoothing, cfg.ema_decay) == (2.0, 0.1, 0.99)
    with pytest.raises(ValueError, match=r"command line: optimizer: Value error, optimizer must be one of"):
        config_from_args(parser.parse_args(["--optimizer", "lion"]), TrainConfig)
