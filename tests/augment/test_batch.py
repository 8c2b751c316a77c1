"""The batch augmentation: pixels change, shapes and labels do not; seeded streams; what the model receives."""

from __future__ import annotations

import pytest
import torch

from raycxr.augment import AugmentSpec, BatchAugment
from raycxr.models import GrayscaleInput


def _batch(n: int = 8, size: int = 48) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=gen)


def _every_op() -> AugmentSpec:
    # Every operation on, CLAHE, blur and noise for every image drawn at these probabilities.
    return AugmentSpec(rotate=10, translate=0.1, scale=0.1, shear=5, crop=0.3, brightness=0.2, contrast=0.2,
                       gamma=0.2, noise=0.05, blur=1.0, clahe=1.0, hflip=0.5)  # fmt: skip


@pytest.mark.parametrize("preset", ["light", "medium", "heavy"])
def test_presets_change_pixels_not_shape_and_give_float_on_the_uint8_scale(preset: str) -> None:
    x = _batch()
    out, _ = BatchAugment(AugmentSpec.resolve(preset)).stream(seed=0, epoch=1)(x)
    assert out.shape == x.shape and out.dtype == torch.float32 and out.device == x.device
    assert out.min() >= 0.0 and out.max() <= 255.0
    assert not torch.allclose(out, x.float())


def test_every_operation_runs_batched() -> None:
    x = _batch()
    out, mixed = BatchAugment(_every_op()).stream(0, 1)(x)
    assert out.shape == x.shape and mixed is None
    assert torch.isfinite(out).all() and (out != x.float()).float().mean() > 0.5


def test_the_same_seed_epoch_and_rank_give_the_same_batches_and_others_differ() -> None:
    augment = BatchAugment(AugmentSpec.resolve("heavy"))
    x = _batch()

    def two_batches(seed: int, epoch: int, rank: int) -> list[torch.Tensor]:
        stream = augment.stream(seed, epoch, rank)
        return [stream(x)[0] for _ in range(2)]

    first = two_batches(0, 1, 0)
    torch.rand(100)  # the global generator's state does not matter
    assert all(torch.equal(a, b) for a, b in zip(first, two_batches(0, 1, 0), strict=True))
    assert not torch.equal(first[0], first[1])  # a stream moves on from batch to batch
    for other in (two_batches(0, 1, 1), two_batches(0, 2, 0), two_batches(1, 1, 0)):  # rank, epoch, seed
        assert not torch.equal(first[0], other[0])


def test_the_global_generator_is_left_as_it_was() -> None:
    torch.manual_seed(3)
    expected = torch.rand(5)
    torch.manual_seed(3)
    BatchAugment(AugmentSpec.resolve("heavy")).stream(0, 1)(_batch())
    assert torch.equal(torch.rand(5), expected)


@pytest.mark.parametrize("normalize", ["unit", "imagenet"])
def test_the_model_input_normalises_an_augmented_batch_once(normalize: str) -> None:
    """A (near-)identity augmentation gives the model the same input as the uint8 batch; the
    float batch is on the uint8 scale, so the model's own scaling is the only one applied."""
    x = _batch()
    near_identity = AugmentSpec(brightness=1e-7)
    out, _ = BatchAugment(near_identity).stream(0, 1)(x)
    assert out.dtype == torch.float32
    model_input = GrayscaleInput(normalize)
    torch.testing.assert_close(model_input(out), model_input(x), atol=1e-4, rtol=0)
    # Rescaled to [0, 1] before the model, it would be normalised twice: far off.
    assert (model_input(out / 255.0) - model_input(x)).abs().max() > 0.5


def test_an_inactive_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        BatchAugment(AugmentSpec())
