from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from raycxr.models import leaf_layers
from raycxr.train import TrainConfig, fit, prepare_data, split_statistics


@pytest.fixture(scope="module")
def data(tiny_dataset: Path):
    cfg = TrainConfig(data=tiny_dataset, image_size=64, folds=4)
    return prepare_data(cfg)


def _cfg(tiny_dataset: Path, **overrides) -> TrainConfig:
    base = dict(
        data=tiny_dataset,
        image_size=64,
        folds=4,
        weights="none",
        head="gap",
        lr=1e-3,
        batch_size=16,
        epochs=2,
        patience=2,
        stats_samples=200,
    )
    return TrainConfig(**(base | overrides))


def test_frozen_parameters_unchanged_trainable_ones_change(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, freeze_ratio=0.5, epochs=1)
    split = data.splits[0]
    from raycxr.models import build_model

    initial = build_model(
        "mobilenet_v2",
        num_classes=4,
        weights="none",
        freeze_ratio=0.5,
        freeze_mode="prefix",
        head="gap",
        normalize="unit",
        seed=cfg.seed,
    ).state_dict()
    result = fit(cfg, data.images, data.labels, data.classes, split, split_statistics(data, split, cfg))
    after = result.model.state_dict()
    layers = leaf_layers(result.model.features)
    frozen_names = {n for n, m in result.model.features.named_modules() if m in [layers[i] for i in range(69)]}
    changed = {k for k in after if not torch.equal(after[k], initial[k])}
    for name in initial:
        module = name.rsplit(".", 1)[0].removeprefix("features.")
        if name.startswith("features.") and module in frozen_names:
            assert name not in changed, f"frozen {name} changed"  # weights and BN running stats
    assert "features.9.conv.2.weight" in changed and "classifier.weight" in changed
    assert result.parameters["frozen"] > 0 and result.parameters["trainable"] > 0


def test_early_stopping_restores_the_best_epoch(data, tiny_dataset: Path) -> None:
    seen = []
    cfg = _cfg(tiny_dataset, lr=0.05, epochs=8, patience=2, freeze_ratio=0.0, loss="ce")
    result = fit(
        cfg,
        data.images,
        data.labels,
        data.classes,
        data.splits[0],
        on_epoch=lambda row, model, best: seen.append((row["val_loss"], best)),
    )
    losses = [loss for loss, _ in seen]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.epochs_run <= result.best_epoch + 2
    assert result.val["loss"] == pytest.approx(min(losses), rel=1e-5)  # the restored weights


def test_same_seed_same_metrics(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=1)
    split = data.splits[1]
    stats = split_statistics(data, split, cfg)
    a = fit(cfg, data.images, data.labels, data.classes, split, stats)
    b = fit(cfg, data.images, data.labels, data.classes, split, split_statistics(data, split, cfg))
    assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-5)
    assert a.test["loss"] == pytest.approx(b.test["loss"], rel=1e-5)
    assert a.loss_info["class_weights"] == b.loss_info["class_weights"]


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_runs_are_identical(data, tiny_dataset: Path, device: str) -> None:
    """``deterministic``: bit-identical histories and predictions from the same seed (GPU included)."""
    cfg = _cfg(tiny_dataset, epochs=2, deterministic=True, device=device, precision="fp32")
    split = data.splits[2]
    stats = split_statistics(data, split, cfg)
    a, b = (fit(cfg, data.images, data.labels, data.classes, split, stats) for _ in range(2))
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    np.testing.assert_array_equal(a.probabilities["test"], b.probabilities["test"])


def test_nan_loss_is_an_error(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, loss="alpha", alpha=[3e38] * 4, epochs=1)  # weights whose loss overflows float32
    with pytest.raises(FloatingPointError, match=r"training loss became (nan|inf) in epoch 1"):
        fit(cfg, data.images, data.labels, data.classes, data.splits[0])


def test_all_frozen_backbone_trains_the_head_only(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, freeze_ratio=1.0, epochs=1, loss="ce")
    result = fit(cfg, data.images, data.labels, data.classes, data.splits[0])
    assert result.parameters["trainable"] == 1280 * 4 + 4


def test_resume_from_a_checkpoint_continues_the_same_run(data, tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_dataset, epochs=3, patience=3, freeze_ratio=0.5, loss="ce")
    split = data.splits[2]
    full = fit(cfg, data.images, data.labels, data.classes, split)

    def save_after_first(row, state, best) -> None:
        if state.epoch == 1:
            torch.save(state.state_dict(), tmp_path / "ckpt.pt")

    fit(cfg.model_copy(update={"epochs": 1}), data.images, data.labels, data.classes, split, on_epoch=save_after_first)
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=True)  # what a Ray Train restart loads
    resumed = fit(cfg, data.images, data.labels, data.classes, split, resume=checkpoint)
    assert len(resumed.history) == 3 and resumed.best_epoch == full.best_epoch
    for a, b in zip(full.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert resumed.test["loss"] == pytest.approx(full.test["loss"], rel=1e-4)


def test_frozen_prefix_cache_is_used_where_exact_and_matches_the_uncached_run(data, tiny_dataset: Path) -> None:
    cfg = _cfg(tiny_dataset, freeze_ratio=0.5, epochs=2, loss="ce", head="gmp")
    split = data.splits[3]
    cached = fit(cfg, data.images, data.labels, data.classes, split)
    plain = fit(cfg.model_copy(update={"frozen_cache_gb": 0}), data.images, data.labels, data.classes, split)
    too_big = fit(cfg.model_copy(update={"frozen_cache_gb": 1e-6}), data.images, data.labels, data.classes, split)
    assert (cached.cached_blocks, plain.cached_blocks, too_big.cached_blocks) == (9, 0, 0)
    for a, b in zip(cached.history, plain.history):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    np.testing.assert_allclose(cached.probabilities["test"], plain.probabilities["test"], rtol=1e-4, atol=1e-6)
    # the feature OOD score: fitted on the training rows' features (the tail's embed on cached activations
    # gives the network's), its quantiles on the validation rows'
    on_cache, on_images = cached.rule.features, plain.rule.features  # type: ignore[union-attr]
    assert on_cache is not None and on_images is not None
    assert (on_cache.n_train, on_cache.n) == (len(split.train), len(split.val))
    np.testing.assert_allclose(on_cache.quantiles, on_images.quantiles, rtol=1e-3)
    assert cached.ood_seconds > 0


def test_bf16_autocast_trains(data, tiny_dataset: Path) -> None:
    """The GPU's mixed-precision path, run on CPU (bf16 autocast is supported there too)."""
    cfg = _cfg(tiny_dataset, freeze_ratio=0.5, epochs=1, loss="ce", precision="bf16")
    fp32 = fit(cfg.model_copy(update={"precision": "fp32"}), data.images, data.labels, data.classes, data.splits[0])
    bf16 = fit(cfg, data.images, data.labels, data.classes, data.splits[0])
    assert bf16.cached_blocks == 9 and np.isfinite(bf16.history[0]["train_loss"])
    assert bf16.history[0]["train_loss"] != fp32.history[0]["train_loss"]  # it did run in bf16
    assert bf16.history[0]["train_loss"] == pytest.approx(fp32.history[0]["train_loss"], rel=0.05)
