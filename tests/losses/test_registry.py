"""The loss registry: declarations, parameter checks, and every loss on K-class and one-logit models."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from raycxr.losses import (
    LOSSES,
    ClassStats,
    LossSpec,
    ParamSpec,
    WeightedCrossEntropy,
    _registry,
    as_class_logits,
    binary_logit,
    build_loss,
    check_loss_params,
    loss_params,
    loss_spec,
    probabilities,
    register_loss,
)

PAPER_LOSSES = ("attention", "ce", "wcce", "focal", "cb", "alpha")


def _stats(k: int) -> ClassStats:
    """Statistics of k classes whose α¹ = 0.5 − 0.05·1 − 0.1·0.2 = 0.43 lies in [0, 1)."""
    return ClassStats([0.5] * k, [0.2] * k, [1.0] * k, [1] + [0] * (k - 1), samples=10, size=8, seed=0)


def _alpha_param(k: int) -> dict[str, object]:
    return {"alpha": [float(c + 1) for c in range(k)]}


def test_registry_declares_every_loss() -> None:
    assert tuple(LOSSES)[: len(PAPER_LOSSES)] == PAPER_LOSSES
    assert {"binary_focal", "cwbcce"} <= set(LOSSES)
    assert [n for n, s in LOSSES.items() if s.multilabel] == ["bce", "focal_ml", "asl"]
    for name, spec in LOSSES.items():
        assert isinstance(spec, LossSpec) and spec.name == name and loss_spec(name) is spec
        assert spec.description and "\n" not in spec.description
        assert all(p.description and "\n" not in p.description for p in spec.params)
    assert [n for n, s in LOSSES.items() if s.needs_stats] == ["attention"]
    assert [n for n, s in LOSSES.items() if s.binary_only] == ["binary_focal"]
    assert loss_spec("attention").param_names == ("beta", "gamma", "q", "n")
    assert loss_spec("focal").param_names == ("focal_alpha", "focal_gamma")
    assert loss_spec("binary_focal").param_names == ("focal_alpha", "focal_gamma")
    assert loss_spec("cb").param_names == ("cb_beta",)
    assert loss_spec("alpha").param("alpha").required
    assert loss_spec("ce").params == loss_spec("wcce").params == loss_spec("cwbcce").params == ()
    defaults = {p.name: p.default for s in LOSSES.values() for p in s.params}
    assert defaults == {
        "beta": 0.05,
        "gamma": 0.1,
        "q": 0.25,
        "n": 0.001,
        "focal_alpha": 0.25,
        "focal_gamma": 2.0,
        "cb_beta": 0.999,
        "alpha": None,
        "pos_weight": False,
        "gamma_pos": 0.0,
        "gamma_neg": 4.0,
        "asl_clip": 0.05,
    }
    with pytest.raises(
        ValueError, match=r"loss must be one of attention, ce, .*cwbcce, bce, focal_ml, asl, got 'hinge'\.$"
    ):
        loss_spec("hinge")


def test_ranges_in_words() -> None:
    spec = {(n, p.name): p.range_text() for n, s in LOSSES.items() for p in s.params}
    assert spec[("attention", "beta")] == spec[("attention", "gamma")] == "finite"
    assert spec[("attention", "q")] == spec[("attention", "n")] == "> 0"
    assert spec[("focal", "focal_alpha")] == "in (0, 1]"
    assert spec[("binary_focal", "focal_alpha")] == "in (0, 1)"
    assert spec[("focal", "focal_gamma")] == spec[("binary_focal", "focal_gamma")] == "≥ 0"
    assert spec[("cb", "cb_beta")] == "in [0, 1)"
    assert spec[("alpha", "alpha")] == "> 0"


def test_loss_params_picks_the_declared_ones() -> None:
    dump = {"loss": "focal", "lr": 1e-4, "focal_alpha": 0.5, "focal_gamma": 1.0, "beta": 0.1, "alpha": None}
    assert loss_params("focal", dump) == {"focal_alpha": 0.5, "focal_gamma": 1.0}
    assert loss_params("attention", dump) == {"beta": 0.1}
    assert loss_params("ce", dump) == {}


def test_build_loss_defaults_undeclared_and_keywords() -> None:
    dump = {"focal_gamma": 1.0, "beta": -99.0, "lr": 1.0, "cb_beta": 7.0}  # undeclared keys are ignored
    loss, info = build_loss("focal", [1, 2, 3], ("a", "b", "c"), params=dump)
    assert info == {"loss": "focal", "focal_alpha": 0.25, "focal_gamma": 1.0}
    assert (loss.alpha.item(), loss.gamma) == (0.25, 1.0)
    assert build_loss("focal", [1, 2, 3], ("a", "b", "c"), focal_gamma=1.0, beta=-99.0)[1] == info
    assert build_loss("focal", [1, 2, 3], ("a", "b", "c"), params={"focal_gamma": None})[1]["focal_gamma"] == 2.0
    with pytest.raises(ValueError, match=r"got \['focal_gamma'\] both in params and as keywords"):
        build_loss("focal", [1, 2, 3], ("a", "b", "c"), params=dump, focal_gamma=1.0)
    with pytest.raises(ValueError, match=r"^loss 'focal': focal_gamma must be ≥ 0, got -1\.$"):
        build_loss("focal", [1, 2, 3], ("a", "b", "c"), params={"focal_gamma": -1})
    with pytest.raises(ValueError, match=r"^loss 'alpha' needs alpha: a list of numbers, each > 0 or one of 'paper'"):
        build_loss("alpha", [1, 2, 3], ("a", "b", "c"), params={"alpha": None})
    with pytest.raises(ValueError, match=r"2 class counts for 3 classes"):
        build_loss("ce", [1, 2], ("a", "b", "c"))


@pytest.mark.parametrize("name", [n for n, s in LOSSES.items() if not s.multilabel])
def test_every_loss_gives_a_finite_loss_and_gradient(name: str) -> None:
    """Multi-class losses on 4 classes and on one logit (2 classes); binary ones on one logit.

    The multi-label losses have their own tests (tests/losses/test_multilabel.py).
    """
    spec = loss_spec(name)
    cases = [(2, 1)] if spec.binary_only else [(4, 4), (2, 1)]  # (classes, logits per image)
    gen = torch.Generator().manual_seed(0)
    for k, width in cases:
        classes = ("a", "b", "c", "d")[:k]
        loss, info = build_loss(name, [5, 10, 20, 40][:k], classes, _stats(k), _alpha_param(k))
        assert info["loss"] == name and set(spec.param_names) <= set(info)
        logits = (3 * torch.randn(8, width, generator=gen)).requires_grad_()
        value = loss(logits, torch.arange(8) % k)
        assert value.dim() == 0 and torch.isfinite(value), (name, k, value)
        value.backward()
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0, (name, k)


def _outside(p: ParamSpec) -> list[float]:
    """Values just outside each finite end of p's range, and NaN / inf."""
    values = [math.nan, math.inf, -math.inf]
    if math.isfinite(p.low):
        values.append(p.low - 0.5 if p.low_closed else p.low)
    if math.isfinite(p.high):
        values.append(p.high + 0.5 if p.high_closed else p.high)
    return values


def test_check_loss_params_rejects_every_out_of_range_value() -> None:
    declared = [(name, p) for name, spec in LOSSES.items() for p in spec.params]
    assert sum(p.bounded for _, p in declared) >= 8
    for name, p in declared:
        if p.default is not None:
            check_loss_params(name, {p.name: p.default})
        for bad in _outside(p):
            value = [1.0, bad] if p.kind == "reals" else bad
            with pytest.raises(ValueError) as error:
                check_loss_params(name, {p.name: value})
            message = str(error.value)
            assert "\n" not in message and message.startswith(f"loss {name!r}: {p.name} must be "), message
            assert message.endswith(f", got {value!r}."), message
            if p.bounded and p.kind == "real" and math.isfinite(bad):
                assert p.range_text() in message
    check_loss_params("focal", {"lr": -1.0, "beta": math.nan, "focal_gamma": 0})  # undeclared: ignored
    check_loss_params("alpha", {"alpha": "paper"})
    check_loss_params("alpha", {"alpha": (0.5, 1, 2)})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("focal", {"focal_gamma": -1}, "loss 'focal': focal_gamma must be ≥ 0, got -1."),
        ("focal", {"focal_alpha": 0.0}, "loss 'focal': focal_alpha must be in (0, 1], got 0.0."),
        ("binary_focal", {"focal_alpha": 1}, "loss 'binary_focal': focal_alpha must be in (0, 1), got 1."),
        ("cb", {"cb_beta": 1.0}, "loss 'cb': cb_beta must be in [0, 1), got 1.0."),
        ("attention", {"q": 0}, "loss 'attention': q must be > 0, got 0."),
        ("attention", {"n": -0.001}, "loss 'attention': n must be > 0, got -0.001."),
        ("attention", {"beta": math.nan}, "loss 'attention': beta must be a finite number, got nan."),
        ("focal", {"focal_gamma": "2"}, "loss 'focal': focal_gamma must be a number ≥ 0, got '2'."),
        ("focal", {"focal_gamma": True}, "loss 'focal': focal_gamma must be a number ≥ 0, got True."),
        (
            "alpha",
            {"alpha": [1.0, -2.0]},
            "loss 'alpha': alpha must be a list of numbers, each > 0 or one of 'paper', got [1.0, -2.0].",
        ),
        (
            "alpha",
            {"alpha": "kaggle"},
            "loss 'alpha': alpha must be a list of numbers, each > 0 or one of 'paper', got 'kaggle'.",
        ),
    ],
)
def test_check_loss_params_messages(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        check_loss_params(name, params)
    assert str(error.value) == message


def test_register_loss_adds_a_loss_in_one_place() -> None:
    @register_loss(
        "toy", description="CE scaled by gamma", params=(ParamSpec("gamma", 1.0, "scale", low=0.0, low_closed=True),)
    )
    def _toy(counts: list[int], classes: tuple[str, ...], stats: object, p: dict[str, Any]) -> tuple[nn.Module, dict]:
        return WeightedCrossEntropy([p["gamma"]] * len(classes)), {"classes": len(classes)}

    try:
        assert "toy" in LOSSES and tuple(LOSSES)[-1] == "toy"
        loss, info = build_loss("toy", [3, 1], ("a", "b"), params={"gamma": 2.0, "q": -5})
        assert info == {"loss": "toy", "gamma": 2.0, "classes": 2}
        logits, target = torch.tensor([[0.3, -0.2], [1.0, 2.0]]), torch.tensor([0, 1])
        assert loss(logits, target).item() == pytest.approx(2 * F.cross_entropy(logits, target).item())
        with pytest.raises(ValueError, match=r"^loss 'toy': gamma must be ≥ 0, got -1\.0\.$"):
            check_loss_params("toy", {"gamma": -1.0})
        with pytest.raises(ValueError, match="loss 'toy' is already registered"):
            register_loss("toy", description="again")
    finally:
        del _registry._REGISTRY["toy"]
    assert "toy" not in LOSSES
    with pytest.raises(ValueError, match=r"^loss 'bad': q must be > 0, got -1.0.$"):
        register_loss("bad", description="", params=(ParamSpec("q", -1.0, "exponent", low=0.0),))
    with pytest.raises(ValueError, match="declares a parameter twice"):
        register_loss("bad", description="", params=(ParamSpec("q", 1.0, "a"), ParamSpec("q", 1.0, "b")))
    with pytest.raises(ValueError, match="must be an identifier"):
        register_loss("bad loss", description="")
    assert "bad" not in LOSSES


# --- One logit (binary models) ---

Z = torch.tensor([[1.0], [-0.5], [2.0], [0.3]])
Y = torch.tensor([1, 0, 0, 1])


def test_one_logit_is_the_two_logits_zero_and_z() -> None:
    torch.testing.assert_close(as_class_logits(Z), torch.tensor([[0.0, 1.0], [0.0, -0.5], [0.0, 2.0], [0.0, 0.3]]))
    wide = torch.randn(4, 3)
    assert as_class_logits(wide) is wide
    sigma = torch.sigmoid(Z)
    torch.testing.assert_close(probabilities(Z), torch.cat([1 - sigma, sigma], dim=1))
    torch.testing.assert_close(probabilities(wide), torch.softmax(wide, dim=1))
    torch.testing.assert_close(binary_logit(Z), Z[:, 0])
    torch.testing.assert_close(binary_logit(torch.tensor([[0.5, 1.5], [2.0, -1.0]])), torch.tensor([1.0, -3.0]))
    with pytest.raises(ValueError, match=r"logits must have shape \(batch, classes\), got \(4,\)"):
        as_class_logits(Z[:, 0])
    with pytest.raises(ValueError, match=r"binary logits must have shape \(batch, 1\) or \(batch, 2\), got \(4, 3\)"):
        binary_logit(wide)


def test_ce_on_one_logit_is_bce_with_logits() -> None:
    ce, _ = build_loss("ce", [2, 2], ("negative", "positive"))
    bce = F.binary_cross_entropy_with_logits(Z[:, 0], Y.float())
    assert ce(Z, Y).item() == pytest.approx(bce.item(), rel=1e-6)
    wcce, info = build_loss("wcce", [30, 10], ("negative", "positive"))
    assert info["class_weights"] == pytest.approx([40 / 60, 40 / 20])
    per_item = F.binary_cross_entropy_with_logits(Z[:, 0], Y.float(), reduction="none")
    expected = (per_item * torch.tensor(info["class_weights"])[Y]).mean()
    assert wcce(Z, Y).item() == pytest.approx(expected.item(), rel=1e-6)


# --- binary_focal ---


def test_binary_focal_equals_a_hand_computation() -> None:
    """α = 0.25, γ = 2 on z = (1, −0.5, 2), labels (1, 0, 0): −α_t (1 − p_t)² ln p_t, then the mean."""
    loss, info = build_loss("binary_focal", [2, 1], ("negative", "positive"))
    assert info == {"loss": "binary_focal", "focal_alpha": 0.25, "focal_gamma": 2.0}
    z, y = torch.tensor([[1.0], [-0.5], [2.0]]), torch.tensor([1, 0, 0])
    # sample 1: y = 1, p_t = σ(1)        = 0.7310585786, α_t = 0.25: 0.25 · 0.2689414214² · 0.3132616875 = 0.0056645144
    # sample 2: y = 0, p_t = 1 − σ(−0.5) = 0.6224593312, α_t = 0.75: 0.75 · 0.3775406688² · 0.4740769842 = 0.0506801179
    # sample 3: y = 0, p_t = 1 − σ(2)    = 0.1192029220, α_t = 0.75: 0.75 · 0.8807970780² · 2.1269280110 = 1.2375586346
    by_hand = (0.0056645144 + 0.0506801179 + 1.2375586346) / 3
    assert by_hand == pytest.approx(0.4313010889, abs=1e-10)
    assert loss(z, y).item() == pytest.approx(by_hand, rel=1e-6)
    two = torch.tensor([[0.5, 1.5], [0.25, -0.25], [-1.0, 1.0]])  # z₁ − z₀ = (1, −0.5, 2)
    assert loss(two, y).item() == pytest.approx(by_hand, rel=1e-6)
    half_bce, _ = build_loss("binary_focal", [2, 1], ("n", "p"), params={"focal_alpha": 0.5, "focal_gamma": 0.0})
    bce = F.binary_cross_entropy_with_logits(z[:, 0], y.float())
    assert half_bce(z, y).item() == pytest.approx(0.5 * bce.item(), rel=1e-6)


def test_binary_focal_needs_two_classes_and_one_or_two_logits() -> None:
    with pytest.raises(ValueError, match=r"loss 'binary_focal' is binary-only .* got 3: \['a', 'b', 'c'\]\.$"):
        build_loss("binary_focal", [1, 1, 1], ("a", "b", "c"))
    loss, _ = build_loss("binary_focal", [1, 1], ("a", "b"))
    with pytest.raises(ValueError, match="binary logits must have shape"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))


# --- cwbcce ---

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0], [1.0, 1.0, 1.0]])
TARGET = torch.tensor([0, 2, 1, 2])


def test_cwbcce_equals_a_hand_computation() -> None:
    # counts (40, 20, 10), N = 70: w_c ∝ N − n_c = (30, 50, 60); Σ_k (N − n_k) n_k = 1200 + 1000 + 600 = 2800,
    # so w_c = 70 · (30, 50, 60) / 2800 = (0.75, 1.25, 1.5), and Σ_c w_c n_c / N = (30 + 25 + 15) / 70 = 1.
    loss, info = build_loss("cwbcce", [40, 20, 10], ("a", "b", "c"))
    assert info == {"loss": "cwbcce", "class_weights": pytest.approx([0.75, 1.25, 1.5])}
    weights = [0.75, 1.25, 1.5]
    by_hand = 0.0
    for logits, y in zip(LOGITS.tolist(), TARGET.tolist()):
        p = math.exp(logits[y]) / sum(math.exp(v) for v in logits)
        by_hand -= weights[y] * math.log(p)
    by_hand /= len(TARGET)  # batch mean
    assert loss(LOGITS, TARGET).item() == pytest.approx(by_hand, rel=1e-6)


def test_cwbcce_on_two_classes_is_balanced_bce() -> None:
    """K = 2: balanced BCE −[β y ln p + (1 − β)(1 − y) ln(1 − p)], β = n₀ / N = 0.75, times N² / (2 n₀ n₁)."""
    loss, info = build_loss("cwbcce", [30, 10], ("negative", "positive"))
    assert info["class_weights"] == pytest.approx([2 / 3, 2.0])  # 8/3 · (0.25, 0.75)
    p = torch.sigmoid(Z[:, 0])
    beta = 0.75
    balanced = -(beta * Y * torch.log(p) + (1 - beta) * (1 - Y) * torch.log(1 - p)).mean()
    assert loss(Z, Y).item() == pytest.approx(8 / 3 * balanced.item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"cwbcce needs training images of at least two classes, got counts \[5, 0\]"):
        build_loss("cwbcce", [5, 0], ("negative", "positive"))
