"""Mixup and cutmix: the images blend, labels stay, the loss is λ·L(y_a) + (1 − λ)·L(y_b) for every loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raycxr.augment import AugmentSpec, BatchAugment, Mixed, mix
from raycxr.losses import LOSSES, ClassStats, build_loss, loss_spec


def _float_batch(n: int = 6, size: int = 16) -> torch.Tensor:
    return torch.rand(n, size, size, generator=torch.Generator().manual_seed(0)) * 255


def test_mixup_blends_each_image_with_its_partner() -> None:
    x = _float_batch()
    out, mixed = mix(x, 0.4, 0.0, np.random.default_rng(0))
    assert mixed is not None and 0.0 <= mixed.lam <= 1.0
    torch.testing.assert_close(out, mixed.lam * x + (1 - mixed.lam) * x[mixed.perm])


def test_cutmix_pastes_a_box_whose_area_is_1_minus_lambda() -> None:
    x = _float_batch(size=32)
    out, mixed = mix(x, 0.0, 1.0, np.random.default_rng(1))
    assert mixed is not None
    from_partner = (out == x[mixed.perm]) & (out != x)
    kept = 1.0 - from_partner[0].float().mean().item()
    assert kept == pytest.approx(mixed.lam)
    assert 0.0 < mixed.lam < 1.0


def test_both_on_use_each_some_of_the_time() -> None:
    rng, x = np.random.default_rng(0), _float_batch()
    kinds = set()
    for _ in range(20):
        out, mixed = mix(x, 1.0, 1.0, rng)
        blended = torch.allclose(out, mixed.lam * x + (1 - mixed.lam) * x[mixed.perm])
        kinds.add("mixup" if blended else "cutmix")
    assert kinds == {"mixup", "cutmix"}


def test_the_stream_returns_labels_untouched_and_how_it_mixed() -> None:
    x = torch.randint(0, 256, (8, 24, 24), dtype=torch.uint8)
    out, mixed = BatchAugment(AugmentSpec(mixup=0.2)).stream(0, 1)(x)
    assert isinstance(mixed, Mixed) and sorted(mixed.perm.tolist()) == list(range(8))
    torch.testing.assert_close(out, mixed.lam * x.float() + (1 - mixed.lam) * x.float()[mixed.perm])


def test_the_mixed_loss_matches_a_hand_computation() -> None:
    """Weighted CE (the attention loss's form), by hand: mean_i −w[y] log p_{i,y}, mixed over the two targets."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-1.0, 3.0, 1.0], [0.0, 0.0, 2.0]])
    y = torch.tensor([0, 1, 2, 1])
    weights = [0.5, 1.0, 2.0]
    criterion, _ = build_loss("alpha", [4, 4, 4], ("a", "b", "c"), params={"alpha": weights})
    mixed = Mixed(perm=torch.tensor([2, 0, 3, 1]), lam=0.3)
    log_p = F.log_softmax(logits, dim=1)
    by_hand = 0.0
    for i in range(4):
        ya, yb = int(y[i]), int(y[mixed.perm[i]])
        by_hand += 0.3 * -weights[ya] * log_p[i, ya] + 0.7 * -weights[yb] * log_p[i, yb]
    torch.testing.assert_close(mixed.loss(lambda t: criterion(logits, t), y), by_hand / 4)


def _stats(k: int) -> ClassStats:
    return ClassStats([0.5] * k, [0.2] * k, [1.0] * k, [1] + [0] * (k - 1), samples=10, size=8, seed=0)


@pytest.mark.parametrize("name", [n for n, s in LOSSES.items() if not s.multilabel])
def test_every_loss_takes_the_mixed_form(name: str) -> None:
    """Multi-class losses on 4 classes and one logit; binary-only ones (one logit) on two classes.

    The multi-label losses (soft float targets) are linear in the target, tested in tests/losses/test_multilabel.py.
    """
    cases = [(2, 1)] if loss_spec(name).binary_only else [(4, 4), (2, 1)]
    gen = torch.Generator().manual_seed(0)
    for k, width in cases:
        params = {"alpha": [1.0] * k} if name == "alpha" else {}
        criterion, _ = build_loss(name, [5, 10, 20, 40][:k], ("a", "b", "c", "d")[:k], _stats(k), params)
        logits = torch.randn(8, width, generator=gen).requires_grad_()
        y = torch.arange(8) % k
        mixed = Mixed(perm=torch.randperm(8, generator=gen), lam=0.25)
        value = mixed.loss(lambda t, c=criterion, z=logits: c(z, t), y)
        expected = 0.25 * criterion(logits, y) + 0.75 * criterion(logits, y[mixed.perm])
        torch.testing.assert_close(value, expected)
        value.backward()
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0, (name, k)
