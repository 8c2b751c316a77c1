"""The schedule registry: each schedule's lr per optimizer step against torch's schedulers driven by hand."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, OneCycleLR, ReduceLROnPlateau, StepLR

from raycxr.optim import SCHEDULES, WARMUP_START_FACTOR, build_schedule, end_epoch, per_step, schedule_params

LR, STEPS, EPOCHS = 0.1, 7, 6


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=LR, momentum=0.9)


def _lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


def _per_step(name: str, settings: dict, steps: int = STEPS * EPOCHS) -> list[float]:
    """The lr of every optimizer step under the registry's schedule, stepped as the loop steps it."""
    optimizer = _optimizer()
    scheduler = build_schedule(name, optimizer, STEPS, EPOCHS, settings)
    lrs = []
    for _ in range(steps):
        lrs.append(_lr(optimizer))
        optimizer.step()
        scheduler.step()
    return lrs


def test_constant_builds_no_scheduler() -> None:
    assert build_schedule("constant", _optimizer(), STEPS, EPOCHS) is None
    assert tuple(SCHEDULES) == ("constant", "cosine", "onecycle", "step", "plateau")


def test_cosine_with_warmup_is_linear_then_torchs_cosine_by_hand() -> None:
    warm, ratio = 2, 0.1  # epochs
    got = _per_step("cosine", {"warmup_epochs": warm, "min_lr_ratio": ratio})
    # By hand: torch's LinearLR for the warm-up steps, then a CosineAnnealingLR over the rest.
    optimizer, w, total = _optimizer(), warm * STEPS, EPOCHS * STEPS
    warmup = LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=w)
    expected = []
    for _ in range(w):
        expected.append(_lr(optimizer))
        optimizer.step()
        warmup.step()
    cosine = CosineAnnealingLR(optimizer, T_max=total - w, eta_min=ratio * LR)
    for _ in range(total - w):
        expected.append(_lr(optimizer))
        optimizer.step()
        cosine.step()
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    closed = [LR * (WARMUP_START_FACTOR + (1 - WARMUP_START_FACTOR) * t / w) for t in range(w)] + [
        ratio * LR + (LR - ratio * LR) * (1 + math.cos(math.pi * t / (total - w))) / 2 for t in range(total - w)
    ]
    assert got == pytest.approx(closed, rel=1e-9)
    assert _per_step("cosine", {}) == pytest.approx(
        [LR * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)], abs=1e-12
    )


def test_onecycle_is_torchs_over_every_step_of_the_run() -> None:
    got = _per_step("onecycle", {"onecycle_pct_start": 0.25})
    optimizer = _optimizer()
    by_hand = OneCycleLR(optimizer, max_lr=LR, total_steps=STEPS * EPOCHS, pct_start=0.25, cycle_momentum=False)
    expected = []
    for _ in range(STEPS * EPOCHS):
        expected.append(_lr(optimizer))
        optimizer.step()
        by_hand.step()
    assert got == pytest.approx(expected, rel=1e-12)
    assert max(got) == pytest.approx(LR, rel=1e-3)
    assert optimizer.param_groups[0]["momentum"] == 0.9  # momentum is not cycled


def test_step_stepped_per_step_is_torchs_steplr_stepped_per_epoch() -> None:
    got = _per_step("step", {"step_epochs": 2, "step_gamma": 0.5})
    optimizer = _optimizer()
    by_epoch = StepLR(optimizer, step_size=2, gamma=0.5)
    expected = []
    for _ in range(EPOCHS):
        expected += [_lr(optimizer)] * STEPS
        optimizer.step()
        by_epoch.step()
    assert got == pytest.approx(expected, rel=1e-12)


def test_plateau_steps_per_epoch_on_the_validation_loss_as_torchs_does() -> None:
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]
    optimizer = _optimizer()
    scheduler = build_schedule("plateau", optimizer, STEPS, EPOCHS, {"plateau_patience": 1, "plateau_factor": 0.5})
    assert per_step(scheduler) is None
    other = _optimizer()
    by_hand = ReduceLROnPlateau(other, mode="min", factor=0.5, patience=1, threshold=0.0)
    got, expected = [], []
    for loss in losses:
        end_epoch(scheduler, loss)
        by_hand.step(loss)
        got.append(_lr(optimizer))
        expected.append(_lr(other))
    assert got == expected and got[-1] == pytest.approx(LR / 4)


@pytest.mark.parametrize(
    ("name", "settings"),
    [("cosine", {"warmup_epochs": 1.5}), ("onecycle", {}), ("step", {"step_epochs": 1}), ("plateau", {})],
)
def test_a_scheduler_saved_and_loaded_weights_only_continues_exactly(name: str, settings: dict) -> None:
    straight = _per_step(name, settings) if name != "plateau" else None
    optimizer = _optimizer()
    scheduler = build_schedule(name, optimizer, STEPS, EPOCHS, settings)
    half = STEPS * EPOCHS // 2
    lrs = []
    for _ in range(half):
        lrs.append(_lr(optimizer))
        optimizer.step()
        if name == "plateau":
            end_epoch(scheduler, 1.0)  # never lower: the lr falls
        else:
            scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = _optimizer()
    again = build_schedule(name, resumed, STEPS, EPOCHS, settings)
    resumed.load_state_dict(saved["optimizer"])
    again.load_state_dict(saved["scheduler"])
    assert _lr(resumed) == _lr(optimizer)
    if straight is not None:
        for _ in range(STEPS * EPOCHS - half):
            lrs.append(_lr(resumed))
            resumed.step()
            again.step()
        assert lrs == pytest.approx(straight, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("cosine", {"warmup_epochs": 6}, "schedule 'cosine': warmup_epochs (6) must be below epochs (6)"),
        ("cosine", {"min_lr_ratio": 1.5}, "schedule 'cosine': min_lr_ratio must be in [0, 1], got 1.5."),
        ("step", {"step_gamma": 0.0}, "schedule 'step': step_gamma must be in (0, 1], got 0.0."),
        ("plateau", {"plateau_patience": 4, "patience": 5}, "plateau_patience (4) must be at most patience − 2 (3)"),
        ("onecycle", {"onecycle_pct_start": 0.01}, "onecycle_pct_start (0.01) of 42 steps is at most one step"),
        ("linear", {}, "schedule must be one of constant, cosine, onecycle, step, plateau, got 'linear'."),
    ],
)
def test_bad_values_are_one_line_errors(name: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        build_schedule(name, _optimizer(), STEPS, EPOCHS, settings)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_schedule_params_fill_defaults() -> None:
    assert schedule_params("cosine", {"epochs": 3}) == {"warmup_epochs": 0.0, "min_lr_ratio": 0.0}
