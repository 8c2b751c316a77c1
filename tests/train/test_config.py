"""TrainConfig reads the ranges of loss parameters from the loss registry: one range each."""

from __future__ import annotations

import pytest

from raycxr.losses import loss_fields, loss_spec
from raycxr.train import TrainConfig
from tests.train.errors import config_error


def test_no_loss_parameter_has_a_bound_of_its_own() -> None:
    """The registry is the only place a loss parameter's range is declared."""
    for field in loss_fields():
        assert TrainConfig.model_fields[field].metadata == [], field


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n": 0.0}, "n: Value error, loss 'attention': n must be > 0, got 0.0."),
        ({"q": -1}, "q: Value error, loss 'attention': q must be > 0, got -1.0."),
        (
            {"loss": "focal", "focal_alpha": 1.5},
            "focal_alpha: Value error, loss 'focal': focal_alpha must be in (0, 1], got 1.5.",
        ),
        (
            {"loss": "binary_focal", "focal_alpha": 1.0},
            "focal_alpha: Value error, loss 'binary_focal': focal_alpha must be in (0, 1), got 1.0.",
        ),
        (
            {"loss": "focal", "focal_gamma": -0.5},
            "focal_gamma: Value error, loss 'focal': focal_gamma must be ≥ 0, got -0.5.",
        ),
        ({"loss": "cb", "cb_beta": 1.0}, "cb_beta: Value error, loss 'cb': cb_beta must be in [0, 1), got 1.0."),
        # A parameter the run's loss does not read must still be valid for some loss that does.
        (
            {"focal_alpha": -1.0},
            "focal_alpha: Value error, focal_alpha must be a number in (0, 1] (loss 'focal') or a number in (0, 1) "
            "(loss 'binary_focal') or a number in (0, 1) (loss 'focal_ml'), got -1.0.",
        ),
        ({"cb_beta": 1.0}, "cb_beta: Value error, cb_beta must be a number in [0, 1) (loss 'cb'), got 1.0."),
    ],
)
def test_a_loss_parameter_out_of_its_registry_range_is_one_line(settings: dict, message: str) -> None:
    assert config_error(**settings) == message


def test_the_range_is_the_configured_loss_s() -> None:
    # 1.0 is focal's α (a scale: (0, 1]) but not binary focal's (1 − α would drop label 0).
    assert TrainConfig(loss="focal", focal_alpha=1.0).focal_alpha == 1.0
    assert TrainConfig(focal_alpha=1.0).focal_alpha == 1.0  # attention does not read it; focal could use it
    assert loss_spec("focal").param("focal_alpha").range_text() == "in (0, 1]"


def test_a_stored_configuration_reads_back_unchanged() -> None:
    """What a trial records (``model_dump(mode="json")``, unset optional parameters as null) is valid again."""
    cfg = TrainConfig(loss="focal", focal_alpha=0.5, decision="youden", classes=["Normal", "COVID"])
    assert TrainConfig(**cfg.model_dump(mode="json")) == cfg
