"""What ``fit``'s per-epoch checkpoint holds: the feature OOD score at the right epochs, shared storages."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from raycxr.evaluation import DecisionRule
from raycxr.train import TrainConfig, fit, prepare_data
from raycxr.train._state import shared_with


@pytest.fixture(scope="module")
def data(tiny_dataset: Path):
    return prepare_data(TrainConfig(data=tiny_dataset, image_size=64, folds=4))


def _cfg(tiny_dataset: Path, **overrides) -> TrainConfig:
    base = dict(
        data=tiny_dataset, image_size=64, folds=4, weights="none", head="gap", lr=1e-3, batch_size=16, epochs=3,
        patience=3, loss="ce", freeze_ratio=0.5,
    )  # fmt: skip
    return TrainConfig(**(base | overrides)).check()


def _saved(state: dict) -> tuple[int, dict]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    size = buffer.tell()
    buffer.seek(0)
    return size, torch.load(buffer, weights_only=True)


def _checkpoints(cfg: TrainConfig, data, **kwargs) -> tuple[list[dict], object]:
    seen: list[dict] = []

    def keep(row, state, best) -> None:
        seen.append(_saved(state.state_dict())[1])

    result = fit(cfg, data.images, data.labels, data.classes, data.splits[0], on_epoch=keep, **kwargs)
    return seen, result


def _has_features(checkpoint: dict) -> bool:
    return checkpoint["best_rule"] is not None and DecisionRule.from_dict(checkpoint["best_rule"]).features is not None


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_the_feature_ood_score_is_fitted_once_for_the_last_checkpoint(data, tiny_dataset: Path, ema: float) -> None:
    checkpoints, result = _checkpoints(_cfg(tiny_dataset, ema_decay=ema), data)
    assert [_has_features(c) for c in checkpoints] == [False, False, True]
    last = DecisionRule.from_dict(checkpoints[-1]["best_rule"])
    assert last == result.rule  # the checkpoint's rule is what fit returns, scored with the best weights
    assert result.rule.features is not None


def test_a_stoppable_run_fits_it_at_every_best_epoch(data, tiny_dataset: Path) -> None:
    checkpoints, result = _checkpoints(_cfg(tiny_dataset), data, stoppable=True)
    for checkpoint in checkpoints:
        assert _has_features(checkpoint)
    assert DecisionRule.from_dict(checkpoints[-1]["best_rule"]) == result.rule


def test_the_last_epoch_keeps_its_own_weights_for_a_resume(data, tiny_dataset: Path) -> None:
    """The OOD fit on the best weights puts the model's own weights back: a longer resumed run continues from them."""
    cfg = _cfg(tiny_dataset, lr=0.05)  # a large rate: the last epoch is unlikely to be the best
    last, _ = _checkpoints(cfg, data)  # epoch 3 is its last: the OOD fit swaps the best weights in and out
    longer, _ = _checkpoints(cfg.model_copy(update={"epochs": 4, "patience": 4}), data)  # epoch 3 is not
    for name, tensor in longer[2]["model"].items():
        assert torch.equal(last[-1]["model"][name], tensor), name
    for name, tensor in longer[2]["best_model"].items():
        assert torch.equal(last[-1]["best_model"][name], tensor), name


def test_best_weights_equal_to_the_current_ones_are_written_once(data, tiny_dataset: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(200, 200), torch.nn.Linear(200, 200))
    current = model.state_dict()
    best = {k: v.clone() for k, v in current.items()}
    best["1.bias"] += 1.0  # trained since: differs
    state = {"model": current, "best_model": shared_with(best, current)}
    size, loaded = _saved(state)
    unshared, _ = _saved({"model": current, "best_model": best})
    assert size < 0.55 * unshared  # only the changed bias is written twice
    for name in best:
        assert torch.equal(loaded["best_model"][name], best[name])
    loaded["model"]["0.weight"].add_(1.0)  # loaded tensors may share storage; loading copies them into a model
    assert torch.equal(loaded["best_model"]["0.weight"], loaded["model"]["0.weight"])
