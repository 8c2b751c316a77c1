from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from raycxr.explain import default_layer, saliency_maps, shortcut_table
from raycxr.models import build_model, freeze, leaf_layers
from tests.explain.phantoms import CLASSES, QUADRANT, SIZE, Trained


def _quadrant_mass(maps: np.ndarray) -> np.ndarray:
    return maps[:, QUADRANT[0], QUADRANT[1]].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


@pytest.mark.parametrize(("method", "least"), [("gradcam", 0.8), ("gradcam++", 0.6)])
def test_class_evidence_lies_in_the_quadrant_of_the_square(trained: Trained, method: str, least: float) -> None:
    squares = trained.images[trained.labels == 1]
    maps = saliency_maps(trained.model, squares, targets=1, method=method)
    assert maps.shape == squares.shape and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0 and np.allclose(maps.max(axis=(1, 2)), 1.0, atol=1e-4)
    mass = _quadrant_mass(maps)
    # The quadrant is 25 % of the image; measured: 0.96 (Grad-CAM), 0.75 (Grad-CAM++).
    assert mass.mean() > least, f"{method}: {mass.mean():.3f} of the mass in the square's quadrant"


def test_targets_none_maps_the_predicted_class(trained: Trained) -> None:
    predicted = trained.proba.argmax(1)
    assert np.array_equal(
        saliency_maps(trained.model, trained.images[:12]),
        saliency_maps(trained.model, trained.images[:12], predicted[:12]),
    )
    other = saliency_maps(trained.model, trained.images[:12], (predicted[:12] + 1) % 3)
    assert not np.allclose(other, saliency_maps(trained.model, trained.images[:12], predicted[:12]))


def test_shortcut_table_flags_the_border_marker_class(trained: Trained) -> None:
    maps = saliency_maps(trained.model, trained.images, trained.labels)
    table = shortcut_table(maps, trained.labels, CLASSES).set_index("class")
    assert table.loc["marker", "flagged"] and not table.loc["square", "flagged"]
    # measured: marker 0.68 border / 0.25 corner mass, square 0.08 / 0.00 (band 34 %, corners 3.5 % of the
    # pixels; flagged above 0.51)
    assert table.loc["marker", "border_mass"] > 0.6 > 0.2 > table.loc["square", "border_mass"]
    assert table.loc["marker", "corner_mass"] > 4 * table.attrs["corner_area"]
    assert table.loc["marker", "n"] == 20


def _binary(model: nn.Module, positive: int, negative: int) -> tuple[nn.Module, nn.Module]:
    """A one-logit model z = z_positive − z_negative of ``model``, and the two-logit model [−z, z]."""
    w, b = model.classifier.weight.detach(), model.classifier.bias.detach()
    one, two = copy.deepcopy(model), copy.deepcopy(model)
    one.classifier = nn.Linear(w.shape[1], 1)
    two.classifier = nn.Linear(w.shape[1], 2)
    with torch.no_grad():
        one.classifier.weight.copy_((w[positive] - w[negative])[None])
        one.classifier.bias.copy_((b[positive] - b[negative])[None])
        two.classifier.weight.copy_(torch.stack([-one.classifier.weight[0], one.classifier.weight[0]]))
        two.classifier.bias.copy_(torch.stack([-one.classifier.bias[0], one.classifier.bias[0]]))
    return one, two


def test_single_logit_binary_model(trained: Trained) -> None:
    one, two = _binary(trained.model, positive=1, negative=0)  # square vs none
    rows = trained.labels < 2
    images, labels = trained.images[rows], trained.labels[rows]
    with torch.no_grad():
        z = one(torch.as_tensor(images))[:, 0].numpy()
    assert ((z > 0) == labels).mean() >= 0.9
    positive = saliency_maps(one, images, 1)
    negative = saliency_maps(one, images, 0)
    # target 1 maps z, target 0 maps −z: the same maps as the two-logit model [−z, z]'s classes
    np.testing.assert_allclose(positive, saliency_maps(two, images, 1), atol=1e-5)
    np.testing.assert_allclose(negative, saliency_maps(two, images, 0), atol=1e-5)
    assert not np.allclose(positive, negative)
    assert _quadrant_mass(positive[labels == 1]).mean() > 0.8  # measured 0.96
    np.testing.assert_array_equal(saliency_maps(one, images), saliency_maps(one, images, (z > 0).astype(int)))


def test_frozen_target_layer_gives_the_same_maps_and_state_is_restored(trained: Trained) -> None:
    images = trained.images[:9]
    expected = saliency_maps(trained.model, images, trained.labels[:9])
    frozen = copy.deepcopy(trained.model)
    layers = leaf_layers(frozen.features)
    freeze(layers, list(range(len(layers))))  # the whole backbone, target layer included
    frozen.classifier.weight.requires_grad_(False)
    frozen.classifier.weight.grad = sentinel = torch.ones_like(frozen.classifier.weight)
    flags = [p.requires_grad for p in frozen.parameters()]
    assert not any(p.requires_grad for p in default_layer(frozen).parameters())
    frozen.train()
    modes = [m.training for m in frozen.modules()]
    with torch.no_grad():  # a caller's no_grad does not stop it
        maps = saliency_maps(frozen, images, trained.labels[:9])
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    assert [p.requires_grad for p in frozen.parameters()] == flags
    assert [m.training for m in frozen.modules()] == modes
    assert frozen.classifier.weight.grad is sentinel
    assert all(p.grad is None for n, p in frozen.named_parameters() if n != "classifier.weight")


def test_registry_model_frozen_entirely(trained: Trained) -> None:
    model = build_model("mobilenet_v2", num_classes=3, weights="none", freeze_ratio=1.0, head="gap", image_size=SIZE)
    assert default_layer(model) is model.features[18]
    maps = saliency_maps(model, trained.images[:3], [0, 1, 2], method="gradcam++")
    assert maps.shape == (3, SIZE, SIZE) and maps.min() >= 0.0 and maps.max() <= 1.0
    assert not any(p.requires_grad for p in model.features.parameters())


def test_bad_arguments_raise(trained: Trained) -> None:
    with pytest.raises(ValueError, match="uint8"):
        saliency_maps(trained.model, trained.images[:2].astype(np.float32))
    with pytest.raises(ValueError, match="method"):
        saliency_maps(trained.model, trained.images[:2], method="scorecam")
    with pytest.raises(ValueError, match="targets"):
        saliency_maps(trained.model, trained.images[:2], [0, 3])
    with pytest.raises(ValueError, match="one per image"):
        saliency_maps(trained.model, trained.images[:3], [0, 1])
