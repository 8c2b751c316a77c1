"""The optimizer registry: torch's classes, weight decay by parameter group, one-line errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from raycxr.optim import OPTIMIZERS, build_optimizer, check_optimizer_field, optimizer_fields, param_groups


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.Flatten(), nn.LazyLinear(2)
    )
    net(torch.zeros(1, 3, 5, 5))  # materialise the lazy layer
    net[0].requires_grad_(False)  # a frozen layer
    return net


def _names(net: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {n for n, p in net.named_parameters() if id(p) in ids}


def test_the_default_is_the_papers_adam_over_the_trainable_parameters_in_one_group() -> None:
    net = _net()
    optimizer = build_optimizer("adam", net, 1e-4)
    assert type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert group["lr"] == 1e-4 and group["weight_decay"] == 0.0
    assert [id(p) for p in group["params"]] == [id(p) for p in net.parameters() if p.requires_grad]
    assert "0.weight" not in _names(net, group)  # frozen


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_weight_decay_leaves_norm_and_bias_parameters_alone(name: str) -> None:
    net = _net()
    optimizer = build_optimizer(name, net, 0.01, {"weight_decay": 0.05})
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    assert _names(net, decayed) == {"2.weight", "4.weight"}
    assert _names(net, plain) == {"1.weight", "1.bias", "2.bias", "4.bias"}  # BatchNorm scale/shift, biases
    together = build_optimizer(name, net, 0.01, {"weight_decay": 0.05, "decay_norm_bias": True})
    assert len(together.param_groups) == 1 and together.param_groups[0]["weight_decay"] == 0.05


def test_each_optimizer_is_torchs_class_with_its_parameters() -> None:
    net = _net()
    assert type(build_optimizer("adamw", net, 0.1)) is torch.optim.AdamW
    sgd = build_optimizer("sgd", net, 0.1, {"momentum": 0.8, "nesterov": True})
    assert type(sgd) is torch.optim.SGD
    assert (sgd.param_groups[0]["momentum"], sgd.param_groups[0]["nesterov"]) == (0.8, True)
    assert tuple(OPTIMIZERS) == ("adam", "adamw", "sgd")
    assert set(optimizer_fields()) == {"weight_decay", "decay_norm_bias", "momentum", "nesterov"}


def test_param_groups_drop_empty_groups() -> None:
    bias_only = [("b.bias", nn.Parameter(torch.zeros(3)))]
    assert [g["weight_decay"] for g in param_groups(bias_only, 0.1)] == [0.0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda net: build_optimizer("lion", net, 0.1), "optimizer must be one of adam, adamw, sgd, got 'lion'."),
        (
            lambda net: build_optimizer("sgd", net, 0.1, {"momentum": 0.0, "nesterov": True}),
            "optimizer 'sgd': nesterov needs momentum > 0, got momentum=0.0.",
        ),
        (
            lambda net: build_optimizer("adamw", net, 0.1, {"weight_decay": -0.1}),
            "optimizer 'adamw': weight_decay must be ≥ 0, got -0.1.",
        ),
        (lambda net: check_optimizer_field("momentum", 1.0), "momentum must be a number in [0, 1) (optimizer 'sgd')"),
        (lambda net: check_optimizer_field("nesterov", 1), "nesterov must be true or false (optimizer 'sgd'), got 1."),
        (lambda net: build_optimizer("adam", net.requires_grad_(False), 0.1), "Nothing to train"),
    ],
)
def test_bad_values_are_one_line_errors(call, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call(_net())
    assert message in str(error.value) and "\n" not in str(error.value)
