"""The optimizer registry: Adam (the paper's), AdamW and SGD, with weight decay by parameter group.

Every optimizer is torch's own class. Weight decay goes to weights only by default: BatchNorm
(and any norm layer's) scales and shifts and every bias sit in a group of their own with
``weight_decay`` 0 (timm's and torchvision's rule: a parameter of one dimension or a ``.bias``);
``decay_norm_bias`` puts them back under decay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from raycxr.optim._registry import Registry
from raycxr.params import ParamSpec

#: ``builder(param_groups, lr, params) -> optimizer``: each group carries its ``weight_decay``.
OptimizerBuilder = Callable[[list[dict[str, Any]], float, dict[str, Any]], torch.optim.Optimizer]

_OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
#: The registered optimizers, name → entry, in registration order (read-only).
OPTIMIZERS = _OPTIMIZERS.view
register_optimizer = _OPTIMIZERS.register

_WEIGHT_DECAY = ParamSpec(
    "weight_decay", 0.0, "weight decay of the weights (norm and bias parameters: see decay_norm_bias)", low=0.0,
    low_closed=True,
)  # fmt: skip
_DECAY_NORM_BIAS = ParamSpec(
    "decay_norm_bias", False, "also decay norm-layer and bias parameters (default: they get weight decay 0)",
    kind="bool",
)  # fmt: skip


def is_norm_or_bias(name: str, param: torch.Tensor) -> bool:
    """Whether a parameter is a norm layer's scale or shift, or a bias (one dimension or ``*.bias``)."""
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(
    named: Iterable[tuple[str, nn.Parameter]], weight_decay: float, decay_norm_bias: bool = False
) -> list[dict[str, Any]]:
    """The trainable parameters of ``named`` as optimizer groups, each with its ``weight_decay``.

    One group when nothing is decayed (exactly ``Optimizer(params)``) or everything is;
    else the decayed weights, then the norm and bias parameters with ``weight_decay`` 0.
    Empty groups are left out.
    """
    trainable = [(n, p) for n, p in named if p.requires_grad]
    if weight_decay == 0 or decay_norm_bias:
        groups = [{"params": [p for _, p in trainable], "weight_decay": weight_decay}]
    else:
        groups = [
            {"params": [p for n, p in trainable if not is_norm_or_bias(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in trainable if is_norm_or_bias(n, p)], "weight_decay": 0.0},
        ]
    return [g for g in groups if g["params"]]


@register_optimizer(
    "adam",
    description="Adam (the paper's): weight_decay is an L2 term added to the gradient (torch's Adam)",
    params=(_WEIGHT_DECAY, _DECAY_NORM_BIAS),
)
def _adam(groups: list[dict[str, Any]], lr: float, p: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=lr)


@register_optimizer(
    "adamw",
    description="AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient",
    params=(_WEIGHT_DECAY, _DECAY_NORM_BIAS),
)
def _adamw(groups: list[dict[str, Any]], lr: float, p: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr)


def _check_sgd(p: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    if p["nesterov"] and p["momentum"] == 0:
        raise ValueError(f"optimizer 'sgd': nesterov needs momentum > 0, got momentum={p['momentum']!r}.")


@register_optimizer(
    "sgd",
    description="SGD with (heavy-ball or Nesterov) momentum",
    params=(
        _WEIGHT_DECAY,
        _DECAY_NORM_BIAS,
        ParamSpec("momentum", 0.9, "SGD: momentum factor (0: plain SGD)", low=0.0, high=1.0, low_closed=True),
        ParamSpec("nesterov", False, "SGD: Nesterov momentum (needs momentum > 0)", kind="bool"),
    ),
    check=_check_sgd,
)
def _sgd(groups: list[dict[str, Any]], lr: float, p: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=p["momentum"], nesterov=p["nesterov"])


def optimizer_fields() -> tuple[str, ...]:
    """Every parameter name some registered optimizer declares (the TrainConfig fields optimizers read)."""
    return _OPTIMIZERS.fields()


def optimizer_params(name: str, settings: Mapping[str, object]) -> dict[str, Any]:
    """The parameters of optimizer ``name`` in ``settings`` (a config dump), defaults filled and checked.

    Raises:
        ValueError: Unknown name, a value out of range, or a combination the optimizer refuses.
    """
    return _OPTIMIZERS.values(name, settings)


def check_optimizer_field(field: str, value: object, optimizer: str | None = None) -> None:
    """Check one setting an optimizer reads by the registry's range (see ``Registry.check_field``).

    Raises:
        ValueError: One line naming the optimizer, the field, its range and the value.
    """
    _OPTIMIZERS.check_field(field, value, optimizer)


def check_optimizer(name: str) -> None:
    """Raise a ValueError listing the registered optimizers when ``name`` is not one."""
    _OPTIMIZERS.get(name)


def build_optimizer(
    name: str, model: nn.Module, lr: float, settings: Mapping[str, object] | None = None
) -> torch.optim.Optimizer:
    """The optimizer ``name`` over the trainable parameters of ``model`` at learning rate ``lr``.

    Args:
        name: A registered optimizer (:data:`OPTIMIZERS`).
        model: Its trainable parameters (``requires_grad``) are optimized, in ``named_parameters`` order.
        lr: The (initial) learning rate.
        settings: Parameter values by TrainConfig field (a whole config dump will do); missing
            ones take their registered default.

    Raises:
        ValueError: Unknown name, a parameter out of range, or nothing to train.
    """
    params = optimizer_params(name, settings or {})
    decay, norm_bias = params.get("weight_decay", 0.0), params.get("decay_norm_bias", False)
    groups = param_groups(model.named_parameters(), decay, norm_bias)
    if not groups:
        raise ValueError("Nothing to train: every parameter is frozen.")
    return _OPTIMIZERS.get(name).builder(groups, lr, params)
