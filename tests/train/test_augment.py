"""Augmentation in ``fit``: training batches only, the frozen-prefix cache off with one log line, seeded."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from raycxr.train import (
    TrainConfig,
    add_config_options,
    config_from_args,
    evaluate_logits,
    fit,
    prepare_data,
    split_statistics,
)


@pytest.fixture(scope="module")
def data(tiny_dataset: Path):
    return prepare_data(TrainConfig(data=tiny_dataset, image_size=64, folds=4))


def _cfg(tiny_dataset: Path, **overrides) -> TrainConfig:
    base = dict(data=tiny_dataset, image_size=64, folds=4, weights="none", head="gap", lr=1e-3, batch_size=16,
                epochs=1, patience=2, stats_samples=200, loss="ce")  # fmt: skip
    return TrainConfig(**(base | overrides)).check()


def _fit(cfg: TrainConfig, data, **kwargs):
    split = data.splits[0]
    stats = split_statistics(data, split, cfg) if cfg.loss == "attention" else None
    return fit(cfg, data.images, data.labels, data.classes, split, stats, **kwargs)


def _same(a, b) -> bool:
    weights = all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    history = [{k: v for k, v in r.items() if k not in ("epoch_s", "setup_s")} for r in a.history]
    return weights and history == [{k: v for k, v in r.items() if k not in ("epoch_s", "setup_s")} for r in b.history]


def test_augmentation_off_trains_exactly_as_without_it_and_keeps_the_cache(data, tiny_dataset: Path) -> None:
    """A preset at magnitude 0 resolves to nothing: the run is bit-identical to the default, cache included."""
    plain = _fit(_cfg(tiny_dataset), data)
    off = _fit(_cfg(tiny_dataset, augment="heavy", augment_magnitude=0.0), data)
    assert plain.cached_blocks > 0 and off.cached_blocks == plain.cached_blocks
    assert _same(plain, off)


def test_augmentation_turns_the_cache_off_and_says_why_once(data, tiny_dataset: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="raycxr.train._loop"):
        result = _fit(_cfg(tiny_dataset, augment="light", epochs=2), data)
    assert result.cached_blocks == 0
    lines = [r.getMessage() for r in caplog.records if "frozen-prefix cache" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("frozen-prefix cache off: augmentation changes the inputs")
    with caplog.at_level(logging.INFO, logger="raycxr.train._loop"):
        caplog.clear()
        _fit(_cfg(tiny_dataset, augment="light", frozen_cache_gb=0), data)
    assert not [r for r in caplog.records if "frozen-prefix cache" in r.getMessage()]  # no cache asked for


def test_augmented_training_changes_the_weights_and_the_same_seed_repeats_it(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, augment="heavy", cutmix=0.5, frozen_cache_gb=0)
    first, again = _fit(cfg, data), _fit(cfg, data)
    assert _same(first, again)
    assert not _same(first, _fit(_cfg(tiny_dataset, frozen_cache_gb=0), data))
    assert not _same(first, _fit(cfg.model_copy(update={"seed": 1}), data))


def test_validation_and_test_batches_are_never_augmented(data, tiny_dataset: Path) -> None:
    """Every epoch's validation loss, and the final val / test scores, are those of the plain images."""
    split, seen = data.splits[0], []
    cfg = _cfg(tiny_dataset, augment="heavy", aug_hflip=0.5, epochs=2)

    def on_epoch(row, state, _best) -> None:
        loss, _ = evaluate_logits(state.model, _ce(), data.images, data.labels, split.val, 64, torch.device("cpu"))
        seen.append((row["val_loss"], loss))

    result = _fit(cfg, data, on_epoch=on_epoch)
    for reported, plain in seen:
        assert reported == pytest.approx(plain, rel=1e-5)
    for name, rows in (("val", split.val), ("test", split.test)):
        _, logits = evaluate_logits(result.model, _ce(), data.images, data.labels, rows, 64, torch.device("cpu"))
        np.testing.assert_allclose(result.logits[name], logits, rtol=1e-5, atol=1e-6)


def _ce() -> torch.nn.Module:
    from raycxr.losses import WeightedCrossEntropy

    return WeightedCrossEntropy()


@pytest.mark.parametrize(
    "settings",
    [
        {"loss": "attention", "mixup": 0.4, "cutmix": 0.4},
        {"classes": ["Normal", "COVID"], "binary": True, "loss": "binary_focal", "mixup": 0.4},
        {"classes": ["Normal", "COVID"], "binary": True, "loss": "attention", "cutmix": 1.0},
    ],
)
def test_mixup_and_cutmix_train_with_the_attention_and_one_logit_losses(tiny_dataset: Path, settings: dict) -> None:
    cfg = _cfg(tiny_dataset, **settings)
    task = prepare_data(cfg)
    result = _fit(cfg, task)
    assert np.isfinite(result.history[0]["train_loss"]) and result.cached_blocks == 0


def test_the_train_cli_has_the_augmentation_flags() -> None:
    parser = argparse.ArgumentParser()
    add_config_options(parser, TrainConfig)
    args = parser.parse_args(["--augment", "light", "--augment-magnitude", "0.5", "--aug-hflip", "0.5"])
    spec = config_from_args(args, TrainConfig).augment_spec()
    assert spec.rotate == 2.5 and spec.hflip == 0.5 and spec.mixup == 0.0
    with pytest.raises(ValueError) as caught:
        config_from_args(parser.parse_args(["--aug-rotate", "200"]), TrainConfig)
    expected = "command line: aug_rotate: Value error, aug_rotate must lie in [0, 180], got 200.0 (got 200.0)"
    assert str(caught.value) == expected
