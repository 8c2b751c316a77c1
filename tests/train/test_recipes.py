"""``fit`` under the optimizer and schedule registries, EMA, label smoothing and clipping (tiny data, seconds each)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from raycxr.train import TrainConfig, evaluate_state, fit, prepare_data, steps_per_epoch


@pytest.fixture(scope="module")
def data(tiny_dataset: Path):
    return prepare_data(TrainConfig(data=tiny_dataset, image_size=64, folds=4))


def _cfg(tiny_dataset: Path, **overrides) -> TrainConfig:
    base = dict(
        data=tiny_dataset, image_size=64, folds=4, weights="none", head="gap", lr=1e-3, batch_size=16, epochs=2,
        patience=2, loss="ce", freeze_ratio=0.5,
    )  # fmt: skip
    return TrainConfig(**(base | overrides)).check()


def test_steps_per_epoch_follows_the_sampler_and_skips_a_last_batch_of_one() -> None:
    assert steps_per_epoch(32, 16) == 2
    assert steps_per_epoch(33, 16) == 2  # the last batch of 1 image is skipped
    assert steps_per_epoch(34, 16) == 3
    assert steps_per_epoch(33, 16, world=2) == 1  # 17 rows a process (padded): 16, and 1 skipped
    assert steps_per_epoch(35, 16, world=2) == 2  # 18 rows a process: 16 + 2
    assert steps_per_epoch(1, 16) == 0


def test_the_default_recipe_is_adam_at_a_constant_rate(data, tiny_dataset: Path) -> None:
    seen = []
    cfg = _cfg(tiny_dataset, epochs=1)
    fit(cfg, data.images, data.labels, data.classes, data.splits[0], on_epoch=lambda r, s, b: seen.append(s))
    (state,) = seen
    assert type(state.optimizer) is torch.optim.Adam and len(state.optimizer.param_groups) == 1
    assert state.scheduler is None and state.ema is None
    assert state.history[0]["lr"] == cfg.lr


def test_a_cosine_schedule_is_stepped_every_optimizer_step(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=2, schedule="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    split = data.splits[0]
    steps = steps_per_epoch(len(split.train), cfg.batch_size)
    counted = []
    result = fit(
        cfg, data.images, data.labels, data.classes, split,
        on_epoch=lambda row, state, best: counted.append(state.scheduler.last_epoch),
    )  # fmt: skip
    assert counted == [steps, 2 * steps]  # one scheduler step per optimizer step, no more
    # After the warm-up epoch the lr is the peak; the cosine then reaches min_lr_ratio × lr at the last step.
    assert [row["lr"] for row in result.history] == pytest.approx([cfg.lr, 0.1 * cfg.lr], rel=1e-9)


class _Interrupted(Exception):
    pass


def test_a_resumed_run_continues_the_schedule_and_ema_exactly(data, tiny_dataset: Path, tmp_path: Path) -> None:
    """2 epochs, a checkpoint loaded weights-only, 2 more == 4 straight epochs (SGD, cosine, EMA, clipping)."""
    cfg = _cfg(
        tiny_dataset, epochs=4, patience=4, lr=0.02, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-3,
        schedule="cosine", warmup_epochs=1, ema_decay=0.8, grad_clip_norm=1.0, label_smoothing=0.1,
    )  # fmt: skip
    split = data.splits[1]
    last: dict[str, dict] = {}

    def keep_last(row, state, best) -> None:
        last["raw"] = copy.deepcopy(state.model.state_dict())
        last["ema"] = copy.deepcopy(state.ema.state_dict())

    full = fit(cfg, data.images, data.labels, data.classes, split, on_epoch=keep_last)
    straight = dict(last)

    def stop_after_two(row, state, best) -> None:
        if state.epoch == 2:
            torch.save(state.state_dict(), tmp_path / "state.pt")
            raise _Interrupted

    with pytest.raises(_Interrupted):
        fit(cfg, data.images, data.labels, data.classes, split, on_epoch=stop_after_two)
    checkpoint = torch.load(tmp_path / "state.pt", weights_only=True)  # what a Ray Train restart loads
    assert checkpoint["scheduler"]["last_epoch"] == 2 * steps_per_epoch(len(split.train), cfg.batch_size)
    resumed = fit(cfg, data.images, data.labels, data.classes, split, resume=checkpoint, on_epoch=keep_last)

    assert len(resumed.history) == 4 and resumed.best_epoch == full.best_epoch
    for a, b in zip(full.history, resumed.history):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-12)
        for key in ("train_loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
    for name in ("raw", "ema"):
        for key, value in straight[name].items():
            torch.testing.assert_close(last[name][key], value, rtol=1e-4, atol=1e-6, msg=f"{name} {key}")
    assert resumed.test["loss"] == pytest.approx(full.test["loss"], rel=1e-4)


def test_an_older_checkpoint_without_scheduler_or_ema_still_loads(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=2)
    saved = {}
    fit(cfg.model_copy(update={"epochs": 1}), data.images, data.labels, data.classes, data.splits[0],
        on_epoch=lambda row, state, best: saved.update(state.state_dict()))  # fmt: skip
    for key in ("scheduler", "ema"):
        saved.pop(key)
    resumed = fit(cfg, data.images, data.labels, data.classes, data.splits[0], resume=saved)
    assert len(resumed.history) == 2


def test_with_ema_the_evaluated_and_kept_weights_are_the_average(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=2, lr=0.05, ema_decay=0.7)
    split = data.splits[2]
    epochs = []

    def look(row, state, best) -> None:
        with state.ema.applied():
            averaged = copy.deepcopy(state.model.state_dict())
        epochs.append((copy.deepcopy(state.model.state_dict()), averaged, copy.deepcopy(state.best_state), best))

    result = fit(cfg, data.images, data.labels, data.classes, split, on_epoch=look)
    raw, averaged, best_state, is_best = epochs[0]
    assert is_best
    assert not torch.equal(raw["classifier.weight"], averaged["classifier.weight"])  # EMA ≠ raw weights
    for key, value in averaged.items():
        assert torch.equal(best_state[key], value), key  # the best state kept is the EMA's
    ema_val, _ = evaluate_state(cfg, averaged, data.images, data.labels, data.classes, split.val)
    raw_val, _ = evaluate_state(cfg, raw, data.images, data.labels, data.classes, split.val)
    assert result.history[0]["val_loss"] == pytest.approx(ema_val["loss"], rel=1e-4)  # validation saw the EMA
    assert result.history[0]["val_loss"] != pytest.approx(raw_val["loss"], rel=1e-4)
    best = result.best_epoch - 1
    for key, value in epochs[best][1].items():
        assert torch.equal(result.model.state_dict()[key], value), key  # restored: the best epoch's EMA weights


def test_ema_averages_the_trained_tail_on_the_frozen_prefix_cache(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=2, ema_decay=0.7, head="gmp")
    split = data.splits[3]
    cached = fit(cfg, data.images, data.labels, data.classes, split)
    plain = fit(cfg.model_copy(update={"frozen_cache_gb": 0}), data.images, data.labels, data.classes, split)
    assert (cached.cached_blocks, plain.cached_blocks) == (9, 0)
    for a, b in zip(cached.history, plain.history):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    np.testing.assert_allclose(cached.probabilities["test"], plain.probabilities["test"], rtol=1e-4, atol=1e-6)


def test_label_smoothing_changes_the_training_loss_only(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=1, label_smoothing=0.2)
    split = data.splits[0]
    smoothed = fit(cfg, data.images, data.labels, data.classes, split)
    plain = fit(cfg.model_copy(update={"label_smoothing": 0.0}), data.images, data.labels, data.classes, split)
    assert smoothed.history[0]["train_loss"] != pytest.approx(plain.history[0]["train_loss"], rel=1e-3)
    unsmoothed, _ = evaluate_state(cfg, smoothed.model.state_dict(), data.images, data.labels, data.classes, split.val)
    assert smoothed.val["loss"] == pytest.approx(unsmoothed["loss"], rel=1e-4)  # validation: the loss itself


def test_gradient_clipping_bounds_the_update(data, tiny_dataset: Path) -> None:
    """SGD without momentum at lr 1 for one step clipped to norm c moves the weights by at most c."""
    cfg = _cfg(tiny_dataset, epochs=1, optimizer="sgd", momentum=0.0, lr=1.0, grad_clip_norm=1e-3, batch_size=64,
               freeze_ratio=1.0)  # fmt: skip
    split = data.splits[0]
    assert steps_per_epoch(len(split.train), cfg.batch_size) == 2
    from raycxr.train import model_for

    before = model_for(cfg, len(data.classes)).state_dict()
    seen = []
    fit(cfg, data.images, data.labels, data.classes, split, on_epoch=lambda r, s, b: seen.append(s.model.state_dict()))
    moved = torch.cat([(seen[0][k] - before[k]).flatten() for k in ("classifier.weight", "classifier.bias")])
    assert 0 < moved.norm() <= 2 * 1e-3 * (1 + 1e-5)  # two steps, each at most the clip norm
