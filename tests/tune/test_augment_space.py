"""Augmentation settings in a search-space file: searchable like any setting, bad values one line each."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from raycxr.train import TrainConfig
from raycxr.tune import load_space, make_sampler


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_presets_magnitude_and_single_operations_are_searchable(tmp_path: Path) -> None:
    space = load_space(
        _write(
            tmp_path,
            """
fixed: {aug_hflip: 0.0}
params:
  augment: {type: categorical, choices: [none, light, heavy]}
  augment_magnitude: {type: float, low: 0.0, high: 1.0}
  mixup: {type: float, low: 0.0, high: 0.4, when: {augment: heavy}}
""",
        )
    )
    study = optuna.create_study(sampler=make_sampler("random", space, seed=0))
    study.optimize(lambda trial: space.define(trial) or 0.0, n_trials=8)
    for trial in study.trials:
        cfg = TrainConfig(**space.settings(trial.params))
        assert cfg.augment == trial.params["augment"]
        assert cfg.augment_spec().hflip == 0.0
        assert ("mixup" in trial.params) == (cfg.augment == "heavy")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed: {augment: strong}", "fixed.augment: Input should be 'none', 'light', 'medium' or 'heavy'"),
        (
            "params: {augment_magnitude: {type: float, low: 0.0, high: 2.0}}",
            "params.augment_magnitude: Value error, augment_magnitude must lie in [0, 1], got 2.0",
        ),
        (
            "params: {aug_rotate: {type: float, low: 0.0, high: 270.0}}",
            "params.aug_rotate: Value error, aug_rotate must lie in [0, 180], got 270.0",
        ),
        ("fixed: {aug_clahe: 1.5}", "fixed.aug_clahe: Value error, aug_clahe must lie in [0, 1], got 1.5"),
        (
            "params: {augment: {type: categorical, choices: [light, extreme]}}",
            "params.augment: Input should be 'none', 'light', 'medium' or 'heavy' (got 'extreme')",
        ),
    ],
)
def test_bad_augmentation_values_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_space(path)
    message = str(error.value)
    assert expected in message, message
    assert message.startswith(str(path)) and "\n" not in message
