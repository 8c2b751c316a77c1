"""The EMA of the weights: torch's AveragedModel, evaluated by swapping its weights in and back out."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from raycxr.optim import EMA, ema_weights


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _train_step(net: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    net.train()
    loss = net(torch.randn(8, 3)).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_ema_is_the_exponential_average_of_the_weights_after_each_step() -> None:
    net, decay = _net(), 0.75
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    ema = EMA(net, decay)
    expected = None
    for _ in range(4):
        _train_step(net, optimizer)
        ema.update()
        now = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
        expected = now if expected is None else {k: decay * expected[k] + (1 - decay) * now[k] for k in now}
    raw = {k: v.clone() for k, v in net.state_dict().items()}
    with ema.applied() as module:
        assert module is net
        for key, value in expected.items():  # parameters and BatchNorm running statistics
            torch.testing.assert_close(net.state_dict()[key], value, rtol=1e-6, atol=1e-7)
        assert not torch.equal(net.state_dict()["0.weight"], raw["0.weight"])
        assert net.state_dict()["1.num_batches_tracked"] == raw["1.num_batches_tracked"]  # counts are not averaged
    for key, value in net.state_dict().items():  # the raw weights are back
        assert torch.equal(value, raw[key]), key


def test_without_ema_nothing_is_swapped() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with ema_weights(None):
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_ema_state_saves_weights_only_and_continues() -> None:
    net = _net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    ema = EMA(net, 0.9)
    _train_step(net, optimizer)
    ema.update()
    buffer = io.BytesIO()
    torch.save(ema.state_dict(), buffer)
    buffer.seek(0)
    other = EMA(net, 0.9)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    _train_step(net, optimizer)
    ema.update()
    other.update()
    for a, b in zip(ema.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert int(other.state_dict()["n_averaged"]) == 2


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_0_1_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
        EMA(_net(), decay)
