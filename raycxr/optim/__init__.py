"""Optimizers, learning-rate schedules and the EMA of the weights: registries the training loop builds from.

Every optimizer and schedule is declared once, with :func:`register_optimizer` /
:func:`register_schedule`, by its name, builder, the TrainConfig fields it reads
(:class:`~raycxr.params.ParamSpec`: default and valid range) and the rules between them — the
loss registry's shape. :func:`build_optimizer` and :func:`build_schedule` make one by name;
the loop never names a concrete optimizer. The defaults (``adam``, ``constant``) are the paper's.
"""

from __future__ import annotations

from raycxr.optim._ema import EMA, ema_weights
from raycxr.optim._optimizers import (
    OPTIMIZERS,
    OptimizerBuilder,
    build_optimizer,
    check_optimizer,
    check_optimizer_field,
    is_norm_or_bias,
    optimizer_fields,
    optimizer_params,
    param_groups,
    register_optimizer,
)
from raycxr.optim._registry import Entry, Registry
from raycxr.optim._schedules import (
    SCHEDULES,
    WARMUP_START_FACTOR,
    ScheduleBuilder,
    build_schedule,
    check_schedule,
    check_schedule_field,
    end_epoch,
    per_step,
    register_schedule,
    schedule_fields,
    schedule_params,
)

__all__ = [
    "EMA",
    "OPTIMIZERS",
    "SCHEDULES",
    "WARMUP_START_FACTOR",
    "Entry",
    "OptimizerBuilder",
    "Registry",
    "ScheduleBuilder",
    "build_optimizer",
    "build_schedule",
    "check_optimizer",
    "check_optimizer_field",
    "check_schedule",
    "check_schedule_field",
    "ema_weights",
    "end_epoch",
    "is_norm_or_bias",
    "optimizer_fields",
    "optimizer_params",
    "param_groups",
    "per_step",
    "register_optimizer",
    "register_schedule",
    "schedule_fields",
    "schedule_params",
]
