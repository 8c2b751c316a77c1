"""Model metrics (parameters, MACs, batch-1 latency) on tiny networks, and the Pareto figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from raycxr.models import build_model
from raycxr.train import TrainConfig
from raycxr.tune._measure import count_macs, count_params, latency_ms, model_metrics
from raycxr.tune._plot import plot_pareto
from raycxr.tune._trial import measure_model


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 4·1·3·3 MACs per output pixel, 8·8 pixels; 36 + 4 parameters
        nn.BatchNorm2d(4),  # not counted as MACs; 8 parameters
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 2),  # 256·2 MACs; 512 + 2 parameters
    )


def test_macs_and_params_by_hand() -> None:
    model = _tiny()
    example = torch.zeros(1, 1, 8, 8)
    assert count_macs(model, example) == 4 * 9 * 64 + 256 * 2
    assert count_params(model) == 36 + 4 + 8 + 512 + 2
    model[0].requires_grad_(False)  # frozen parameters count too
    assert count_params(model) == 562
    # A depthwise convolution counts by its real size (groups).
    depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
    assert count_macs(depthwise, torch.zeros(1, 4, 8, 8)) == 4 * 9 * 64


def test_latency_is_a_median_of_timed_passes_and_modes_are_restored() -> None:
    model = _tiny().train()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(model.training))
    values = model_metrics(model, torch.zeros(1, 1, 8, 8), ("latency_ms", "macs", "params"))
    assert set(values) == {"latency_ms", "macs", "params"} and values["latency_ms"] > 0
    assert values["macs"] == 2816 and values["params"] == 562
    assert calls and not any(calls)  # every pass in eval mode …
    assert model.training  # … and the model back in training mode
    assert len(calls) == 1 + 3 + 10  # the MAC count, 3 warm-up passes, 10 timed ones
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        latency_ms(model, torch.zeros(1, 1, 8, 8), repeats=0)
    assert model_metrics(model, torch.zeros(1, 1, 8, 8), ("params",)) == {"params": 562.0}


def test_a_trial_measures_its_freeze_net_at_its_image_size() -> None:
    cfg = TrainConfig(image_size=64, head="gap", weights="none", freeze_ratio=0.5)
    net = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5, head="gap", image_size=64)
    state = torch.get_rng_state()
    values = measure_model(net, cfg, ("latency_ms", "macs", "params"))
    assert torch.equal(torch.get_rng_state(), state)  # measuring draws no random number
    counts = net.parameter_counts()
    assert values["params"] == counts["trainable"] + counts["frozen"]
    # MobileNetV2 at 64 px is 1/12.25 of its ~300 M MACs at 224 px.
    assert 15e6 < values["macs"] < 35e6
    big_net = build_model("mobilenet_v2", num_classes=4, weights="none", freeze_ratio=0.5, head="gap", image_size=128)
    bigger = measure_model(big_net, cfg.model_copy(update={"image_size": 128}), ("macs",))
    assert bigger["macs"] == pytest.approx(4 * values["macs"], rel=0.05)
    assert measure_model(net, cfg, ()) == {}


def _trials(path: Path) -> Path:
    pd.DataFrame(
        {
            "trial_id": ["t_00000", "t_00001", "t_00002", "t_00003"],
            "status": ["completed", "completed", "completed", "errored"],
            "best_val_f1_macro": [0.9, 0.8, 0.7, None],
            "latency_ms": [30.0, 10.0, 40.0, None],
            "params": [3e6, 2e6, 1e6, None],
        }
    ).to_csv(path, index=False)
    return path


def test_plot_pareto(tmp_path: Path) -> None:
    trials = _trials(tmp_path / "trials.csv")
    out = plot_pareto(trials, "best_val_f1_macro:max,latency_ms:min", tmp_path / "pareto.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    three = plot_pareto(trials, [("best_val_f1_macro", "max"), ("latency_ms", "min"), ("params", "min")],
                        tmp_path / "three.png")  # fmt: skip
    assert three.stat().st_size > 0
    with pytest.raises(ValueError, match="at least two objectives"):
        plot_pareto(trials, "best_val_f1_macro:max", tmp_path / "one.png")
    with pytest.raises(ValueError, match="no column macs"):
        plot_pareto(trials, "best_val_f1_macro:max,macs:min", tmp_path / "macs.png")
