"""Every registered backbone builds, trains a step at its smallest input and freezes exactly what it is asked to."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from raycxr.models import (
    backbone_names,
    build_model,
    get_backbone,
    get_head,
    head_names,
    leaf_layers,
    register_backbone,
)
from raycxr.train import training_loss

BUILT_IN = (
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v1",
    "vgg16",
    "resnet18",
    "resnet50",
    "inception_v3",
    "densenet121",
    "efficientnet_b0",
    "covidnet",
    "covidlite",
)


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_the_issue_s_backbones_are_registered() -> None:
    assert set(BUILT_IN) <= set(backbone_names())


@pytest.mark.parametrize("name", BUILT_IN)
def test_builds_trains_and_freezes_exactly_the_requested_layers(name: str) -> None:
    spec = get_backbone(name)
    ratio = 0.0 if spec.imagenet is None else 0.5  # the from-scratch baselines train every layer
    model = build_model(name, num_classes=4, weights="none", freeze_ratio=ratio, image_size=spec.min_size, seed=1)
    layers = leaf_layers(model.features)
    expected = int(ratio * len(layers))
    assert model.frozen_layers == list(range(expected))
    for i, layer in enumerate(layers):
        own = list(layer.parameters(recurse=False))
        assert all(p.requires_grad == (i >= expected) for p in own), f"{name}: layer {i} {type(layer).__name__}"
    model.train()
    x, y = _images(2, spec.min_size), torch.tensor([0, 3])
    out = model(x)
    assert (out[0] if isinstance(out, tuple) else out).shape == (2, 4)
    loss = training_loss(nn.CrossEntropyLoss(), out, y)
    loss.backward()
    assert torch.isfinite(loss)
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in model.classifier.parameters())
    assert sum(p.grad is not None for p in trained) > len(trained) // 2
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    model.eval()
    assert model(x).shape == (2, 4)  # no auxiliary output in evaluation


@pytest.mark.parametrize(("name", "ratio"), [("resnet18", 0.5), ("vgg16", 0.5), ("mobilenet_v1", 0.5)])
def test_tail_on_the_cached_frozen_prefix_is_the_same_function(name: str, ratio: float) -> None:
    model = build_model(name, num_classes=3, weights="none", freeze_ratio=ratio, image_size=64, seed=2).eval()
    blocks = model.frozen_blocks()
    assert blocks > 0
    x = _images(3, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.tail(blocks)(model.prefix(blocks)(x)), model(x))


def test_inception_trains_its_auxiliary_logits_with_weight_0_4() -> None:
    model = build_model("inception_v3", num_classes=2, weights="none", freeze_ratio=0.0, image_size=75).train()
    x, y = _images(2, 75), torch.tensor([0, 1])
    torch.manual_seed(0)
    logits, aux = model(x)
    criterion = nn.CrossEntropyLoss()
    expected = criterion(logits, y) + 0.4 * criterion(aux, y)
    torch.testing.assert_close(training_loss(criterion, (logits, aux), y), expected)


def test_weights_from_a_file_fit_or_say_why(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    model = build_model("resnet18", num_classes=4, weights=tmp_path / "resnet18.pth", freeze_ratio=0.5)
    assert torch.equal(model.features[1][0].conv1.weight, reference.layer1[0].conv1.weight)
    torch.save(torchvision.models.mobilenet_v2().state_dict(), tmp_path / "mobilenet.pth")
    with pytest.raises(ValueError, match=r"weights do not fit backbone 'resnet18': \d+ missing"):
        build_model("resnet18", num_classes=4, weights=tmp_path / "mobilenet.pth", freeze_ratio=0.5)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth is not a PyTorch state dict"):
        build_model("resnet18", num_classes=4, weights=tmp_path / "junk.pth", freeze_ratio=0.5)


def test_imagenet_weights_offline_name_the_backbone_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache
    try:
        model = build_model("resnet18", num_classes=4, weights="imagenet", freeze_ratio=0.5)
    except FileNotFoundError as error:  # offline (CI): the error says what to pass
        assert "backbone 'resnet18'" in str(error) and "resnet18-f37072fd.pth" in str(error)
        assert "--weights FILE" in str(error)
    else:  # a connected machine downloads into the (temporary) cache
        assert (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").is_file()
        assert model.features[0][0].weight.abs().sum() > 0


def test_from_scratch_backbones_have_no_imagenet_weights() -> None:
    with pytest.raises(ValueError, match="backbone 'covidnet' has no ImageNet weights"):
        build_model("covidnet", num_classes=4, weights="imagenet", freeze_ratio=0.0)


def test_unknown_backbones_list_the_choices() -> None:
    with pytest.raises(ValueError, match=r"backbone must be one of mobilenet_v2, .* or timm:<name>, got 'vgg17'"):
        get_backbone("vgg17")
    with pytest.raises(ValueError, match="timm does not know the model 'no_such_net'"):
        get_backbone("timm:no_such_net")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("vgg16")(lambda state: None)


def test_any_timm_model_by_name() -> None:
    import timm

    vit = build_model(
        "timm:vit_tiny_patch16_224", num_classes=2, weights="none", freeze_ratio=0.5, image_size=224
    ).eval()
    assert vit(_images(1, 224)).shape == (1, 2)
    counts = vit.parameter_counts()
    assert counts["trainable"] > 0 and counts["frozen"] > 0  # only each layer's own parameters freeze
    # EfficientNet / MobileNet / ResNet families are cut into blocks whose chain is timm's forward_features.
    from raycxr.models._backbones import timm_features

    for name in ("efficientnet_b0", "mobilenetv1_100", "resnet18"):
        reference = timm.create_model(name).eval()
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            expected = reference.forward_features(x)
            features = timm_features(reference)
            assert len(features.blocks) > 3
            torch.testing.assert_close(features.blocks(x), expected)


def test_dense_head_names_its_feature_layer_and_flattens_at_the_image_size() -> None:
    model = build_model(
        "vgg16",
        num_classes=1,
        weights="none",
        freeze_ratio=0.5,
        head="dense",
        image_size=64,
        head_widths=(32, 16),
        head_dropout=0.5,
    ).eval()
    assert model.pool.feature_dense.out_features == 16
    assert model.pool.dense0.in_features == 512 * 2 * 2  # VGG16 halves 64 px five times
    assert model.embed(_images(2, 64)).shape == (2, 16)
    assert model(_images(2, 64)).shape == (2, 1)  # one logit: a binary task
    with pytest.raises(ValueError, match="head 'dense' needs positive --head-widths"):
        build_model("mobilenet_v2", num_classes=2, weights="none", freeze_ratio=0.5, head="dense", head_widths=())
    assert {"gmp", "gap", "mlp", "dense"} <= set(head_names())
    assert get_head("dense").spatial and not get_head("gmp").spatial
