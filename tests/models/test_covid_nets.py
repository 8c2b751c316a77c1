"""COVID-Net and COVID-Lite feature extractors: shapes, chaining, CLAHE pre-processing, sizes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from raycxr.models._covidlite import CLAHE, covidlite_features
from raycxr.models._covidlite import MIN_SIZE as COVIDLITE_MIN_SIZE
from raycxr.models._covidnet import MIN_SIZE as COVIDNET_MIN_SIZE
from raycxr.models._covidnet import DenseStage, covidnet_features

SIZE = 64
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# (name, builder, minimum input size); COVID-Net at width 0.25 keeps the chaining and shape tests light.
BUILDERS: list[tuple[str, Callable[[], tuple[nn.Sequential, int]], int]] = [
    ("covidnet", lambda: covidnet_features(0.25), COVIDNET_MIN_SIZE),
    ("covidlite", covidlite_features, COVIDLITE_MIN_SIZE),
]
IDS = [name for name, _, _ in BUILDERS]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny convolutions: one intra-op thread is as fast, and far faster on shared, busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gray_batch(size: int = SIZE, low: float = 0.0, high: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A batch of 2 gray images repeated into 3 channels, as our input adapter makes them ('unit')."""
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(2, 1, size, size, generator=g) * (high - low) + low
    return gray.expand(2, 3, size, size).contiguous()


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module", params=BUILDERS, ids=IDS)
def built(request: pytest.FixtureRequest) -> tuple[nn.Sequential, int, int]:
    _, build, min_size = request.param
    torch.manual_seed(0)
    features, channels = build()
    return features, channels, min_size


def test_forward_backward_shape_and_channels(built: tuple[nn.Sequential, int, int]) -> None:
    features, channels, _ = built
    features.train()
    out = features(_gray_batch())
    assert out.shape == (2, channels, SIZE // 32, SIZE // 32)
    out.mean().backward()
    grads = [p.grad for p in features.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    features.zero_grad(set_to_none=True)


def test_min_size_gives_one_pixel(built: tuple[nn.Sequential, int, int]) -> None:
    features, channels, min_size = built
    features.eval()
    with torch.no_grad():
        assert features(_gray_batch(min_size)).shape == (2, channels, 1, 1)


def test_sequential_is_a_chain(built: tuple[nn.Sequential, int, int]) -> None:
    """Block k takes exactly block k-1's output: caching activations at block boundaries is exact."""
    features, _, _ = built
    features.eval()
    x = _gray_batch(seed=1)
    with torch.no_grad():
        whole = features(x)
        y = x
        for block in features:
            y = block(y)
    assert torch.equal(y, whole)
    with torch.no_grad():  # resuming from a cached boundary activation
        cached = features[:2](x)
        assert torch.equal(features[2:](cached), whole)


def test_covidnet_dense_connections_stay_inside_blocks() -> None:
    features, channels = covidnet_features(0.25)
    assert len(features) == 5 and channels == 256
    assert [len(stage.pepx) for stage in features[1:]] == [3, 4, 6, 3]
    assert all(isinstance(stage, DenseStage) for stage in features[1:])


def test_covidnet_width_validated() -> None:
    with pytest.raises(ValueError, match="width"):
        covidnet_features(0.0)


def test_parameter_counts_near_the_papers() -> None:
    """COVID-Net: 11.75 M parameters in the paper, FC head included; ours has no head (a 1024 → 256 → K
    head would add about 1.3 M). COVID-Lite: an 8.4 MB float32 model in the paper, about 2.1 M parameters."""
    covidnet, covidnet_channels = covidnet_features()
    covidlite, covidlite_channels = covidlite_features()
    n_net, n_lite = _params(covidnet), _params(covidlite)
    print(f"COVID-Net features: {n_net:,} parameters, {covidnet_channels} channels")
    print(f"COVID-Lite features: {n_lite:,} parameters, {covidlite_channels} channels")
    assert covidnet_channels == 1024 and 7_000_000 < n_net < 11_750_000
    assert covidlite_channels == 1024 and 1_800_000 < n_lite < 2_400_000
    assert _params(covidnet_features(0.5)[0]) < n_net / 3


# --- CLAHE pre-processing -------------------------------------------------------------------------------------


def test_clahe_has_no_parameters_and_keeps_shape() -> None:
    clahe = covidlite_features()[0][0]
    assert isinstance(clahe, CLAHE)
    assert not list(clahe.parameters()) and not list(clahe.buffers())
    x = _gray_batch(size=48)
    y = clahe(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_clahe_leaves_a_constant_image_constant() -> None:
    clahe = CLAHE(clip_limit=2.0, grid=(8, 8))
    y = clahe(torch.full((2, 3, SIZE, SIZE), 0.4))
    assert y.std(dim=(-2, -1)).max() < 1e-6


def test_clahe_increases_contrast_of_a_low_contrast_image() -> None:
    clahe = CLAHE(clip_limit=2.0, grid=(8, 8))
    x = _gray_batch(low=0.45, high=0.55)
    y = clahe(x)
    assert (y.std(dim=(-2, -1)) > 3 * x.std(dim=(-2, -1))).all()
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])  # gray stays gray


def test_clahe_same_for_unit_and_imagenet_normalisation() -> None:
    clahe = CLAHE(clip_limit=2.0, grid=(8, 8))
    x = _gray_batch(low=0.2, high=0.7, seed=2)
    standardised = (x - IMAGENET_MEAN) / IMAGENET_STD
    assert standardised.min() < 0  # kornia alone would refuse it
    diff = (clahe(x) - clahe(standardised)).abs()
    assert diff.mean() < 1e-3 and diff.max() < 0.05  # float rounding may move a pixel by one 8-bit level


def test_clahe_no_grad_equals_grad_mode() -> None:
    clahe = CLAHE()
    x = _gray_batch(seed=3)
    with torch.no_grad():
        y = clahe(x)
    assert torch.equal(y, clahe(x))


def test_clahe_arguments_validated() -> None:
    with pytest.raises(ValueError, match="clip_limit"):
        CLAHE(clip_limit=-1.0)
    with pytest.raises(ValueError, match="saturation"):
        CLAHE(saturation=0.5)
    with pytest.raises(ValueError, match="B, C, H, W"):
        CLAHE()(torch.rand(3, SIZE, SIZE))
