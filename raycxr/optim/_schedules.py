"""The learning-rate schedule registry: constant (the paper's), cosine with warm-up, one-cycle, step, plateau.

Every schedule is torch's own scheduler. All but ``plateau`` are **stepped after every
optimizer step** (as timm and torchvision step warm-up + cosine): their lengths, given in
epochs, become steps with the number of optimizer steps an epoch takes (known before training
from the training rows, the batch size and the world size). So a warm-up ends, and a step
decay falls, exactly at an epoch boundary, and a resumed run continues mid-schedule.
``plateau`` watches the validation loss, so it is stepped once per epoch, after validation
(:func:`end_epoch`). ``constant`` builds no scheduler at all: the optimizer runs at ``lr``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from raycxr.optim._registry import Registry
from raycxr.params import ParamSpec

#: ``builder(optimizer, params, steps_per_epoch, epochs) -> scheduler or None`` (None: constant lr).
ScheduleBuilder = Callable[[torch.optim.Optimizer, dict[str, Any], int, int], LRScheduler | None]

_SCHEDULES: Registry[ScheduleBuilder] = Registry("schedule")
#: The registered schedules, name → entry, in registration order (read-only).
SCHEDULES = _SCHEDULES.view
register_schedule = _SCHEDULES.register

#: A linear warm-up starts at this fraction of ``lr`` (torchvision's ``lr_warmup_decay`` default).
WARMUP_START_FACTOR = 0.01


def _base_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


@register_schedule("constant", description="the paper's: lr throughout (no scheduler)")
def _constant(optimizer: torch.optim.Optimizer, p: dict[str, Any], steps: int, epochs: int) -> LRScheduler | None:
    return None


def _warmup_steps(p: Mapping[str, Any], steps: int) -> int:
    return round(p["warmup_epochs"] * steps)


def _check_cosine(p: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    epochs = settings.get("epochs")
    if epochs is not None and p["warmup_epochs"] >= epochs:
        raise ValueError(
            f"schedule 'cosine': warmup_epochs ({p['warmup_epochs']:g}) must be below epochs ({epochs}), "
            "else the warm-up never ends."
        )


@register_schedule(
    "cosine",
    description="linear warm-up from 1% of lr over warmup_epochs, then cosine decay to min_lr_ratio × lr at the "
    "last epoch",
    params=(
        ParamSpec(
            "warmup_epochs", 0.0, "cosine: epochs of linear warm-up (fractions allowed)", low=0.0, low_closed=True
        ),
        ParamSpec(
            "min_lr_ratio", 0.0, "cosine: the final lr as a fraction of lr", low=0.0, high=1.0, low_closed=True,
            high_closed=True,
        ),
    ),
    check=_check_cosine,
)  # fmt: skip
def _cosine(optimizer: torch.optim.Optimizer, p: dict[str, Any], steps: int, epochs: int) -> LRScheduler:
    total, warm = steps * epochs, _warmup_steps(p, steps)
    cosine = CosineAnnealingLR(optimizer, T_max=max(total - warm, 1), eta_min=p["min_lr_ratio"] * _base_lr(optimizer))
    if warm == 0:
        return cosine
    warmup = LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, end_factor=1.0, total_iters=warm)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warm])


@register_schedule(
    "onecycle",
    description="one cycle (Smith): lr/25 up to lr over onecycle_pct_start of the steps, then down to lr/25e4 "
    "(the learning rate only: momentum is left as configured)",
    params=(ParamSpec("onecycle_pct_start", 0.3, "onecycle: fraction of the steps spent rising", low=0.0, high=1.0),),
)
def _onecycle(optimizer: torch.optim.Optimizer, p: dict[str, Any], steps: int, epochs: int) -> LRScheduler:
    total = steps * epochs
    if p["onecycle_pct_start"] * total <= 1:
        raise ValueError(
            f"schedule 'onecycle': onecycle_pct_start ({p['onecycle_pct_start']:g}) of {total} steps is at most "
            "one step; raise it or train longer."
        )
    return OneCycleLR(
        optimizer, max_lr=_base_lr(optimizer), total_steps=total, pct_start=float(p["onecycle_pct_start"]),
        cycle_momentum=False,
    )  # fmt: skip


@register_schedule(
    "step",
    description="lr × step_gamma every step_epochs epochs",
    params=(
        ParamSpec("step_epochs", 10, "step: epochs between two decays", low=1.0, low_closed=True),
        ParamSpec("step_gamma", 0.1, "step: factor of each decay", low=0.0, high=1.0, high_closed=True),
    ),
)
def _step(optimizer: torch.optim.Optimizer, p: dict[str, Any], steps: int, epochs: int) -> LRScheduler:
    return StepLR(optimizer, step_size=int(p["step_epochs"]) * steps, gamma=p["step_gamma"])


def _check_plateau(p: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    patience = settings.get("patience")
    if patience is not None and p["plateau_patience"] > patience - 2:
        raise ValueError(
            f"schedule 'plateau': plateau_patience ({p['plateau_patience']}) must be at most patience − 2 "
            f"({patience - 2}), else early stopping ends the run before the lowered lr is used."
        )


@register_schedule(
    "plateau",
    description="lr × plateau_factor when the validation loss has not fallen for plateau_patience epochs "
    "(stepped once per epoch)",
    params=(
        ParamSpec("plateau_factor", 0.1, "plateau: factor of each decay", low=0.0, high=1.0),
        ParamSpec("plateau_patience", 2, "plateau: epochs without a lower validation loss", low=0.0, low_closed=True),
    ),
    check=_check_plateau,
)
def _plateau(optimizer: torch.optim.Optimizer, p: dict[str, Any], steps: int, epochs: int) -> LRScheduler:
    # threshold 0: "lower" means strictly lower, as early stopping counts it.
    return ReduceLROnPlateau(
        optimizer, mode="min", factor=p["plateau_factor"], patience=int(p["plateau_patience"]), threshold=0.0
    )


def schedule_fields() -> tuple[str, ...]:
    """Every parameter name some registered schedule declares (the TrainConfig fields schedules read)."""
    return _SCHEDULES.fields()


def schedule_params(name: str, settings: Mapping[str, object]) -> dict[str, Any]:
    """The parameters of schedule ``name`` in ``settings`` (a config dump), defaults filled and checked.

    Raises:
        ValueError: Unknown name, a value out of range, or a combination the schedule refuses
            (a warm-up of at least ``epochs``; a plateau patience early stopping never waits for).
    """
    return _SCHEDULES.values(name, settings)


def check_schedule_field(field: str, value: object, schedule: str | None = None) -> None:
    """Check one setting a schedule reads by the registry's range (see ``Registry.check_field``).

    Raises:
        ValueError: One line naming the schedule, the field, its range and the value.
    """
    _SCHEDULES.check_field(field, value, schedule)


def check_schedule(name: str) -> None:
    """Raise a ValueError listing the registered schedules when ``name`` is not one."""
    _SCHEDULES.get(name)


def build_schedule(
    name: str,
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    epochs: int,
    settings: Mapping[str, object] | None = None,
) -> LRScheduler | None:
    """The scheduler ``name`` of ``optimizer`` (``None`` for a constant lr).

    Args:
        name: A registered schedule (:data:`SCHEDULES`).
        optimizer: Its groups' current ``lr`` is the schedule's base (peak) learning rate.
        steps_per_epoch: Optimizer steps in one epoch (at least 1).
        epochs: The run's maximum epochs (a schedule's length).
        settings: Parameter values by TrainConfig field (a whole config dump will do).

    Raises:
        ValueError: Unknown name, a parameter out of range, or a combination the schedule refuses.
    """
    params = schedule_params(name, {**(settings or {}), "epochs": epochs})
    return _SCHEDULES.get(name).builder(optimizer, params, max(int(steps_per_epoch), 1), int(epochs))


def per_step(scheduler: LRScheduler | None) -> LRScheduler | None:
    """``scheduler`` when it is stepped after every optimizer step, else ``None`` (none, or ``plateau``)."""
    return None if scheduler is None or isinstance(scheduler, ReduceLROnPlateau) else scheduler


def end_epoch(scheduler: LRScheduler | None, val_loss: float) -> None:
    """Step a per-epoch scheduler (``plateau``) on the epoch's validation loss; the others step per batch."""
    if isinstance(scheduler, ReduceLROnPlateau) and math.isfinite(val_loss):
        scheduler.step(val_loss)
