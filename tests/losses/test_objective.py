"""The guarded objective: a search may not rank trials by a loss the space changes from trial to trial."""

from __future__ import annotations

import pytest

from raycxr.losses import LOSSES, check_loss_objective, is_loss_metric, loss_spec, scale_parameters


def test_scale_parameters_are_declared_in_the_registry() -> None:
    assert scale_parameters("attention") == ("beta", "gamma", "q", "n")
    assert scale_parameters("focal") == ("focal_alpha", "focal_gamma")
    assert scale_parameters("ce") == scale_parameters("wcce") == scale_parameters("cwbcce") == ()
    for name, spec in LOSSES.items():
        assert scale_parameters(name) == tuple(p.name for p in spec.params if p.scales)
        for p in spec.params:  # every reason reads as "which <reason>, not a better model"
            assert not p.scales or ", so a lower loss would mean " in p.scales, (name, p.name)
    with pytest.raises(ValueError, match=r"^loss must be one of .*, got 'nope'\.$"):
        scale_parameters("nope")


@pytest.mark.parametrize("metric", ["best_val_loss", "val_loss", "train_loss"])
def test_a_searched_scale_is_refused_in_one_line(metric: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_loss_objective(metric, {"attention": {"lr", "n", "freeze_ratio"}})
    assert str(caught.value) == (
        f"--metric {metric}: the space searches n, which scales the attention loss linearly, so a lower loss would "
        "mean a smaller n, not a better model; use best_val_f1_macro or fix n."
    )


def test_searching_the_loss_itself_is_refused() -> None:
    """Different losses are different functions: their values rank nothing."""
    with pytest.raises(ValueError) as caught:
        check_loss_objective("best_val_loss", {"ce": {"lr"}, "wcce": {"lr"}}, option="--objectives")
    assert str(caught.value) == (
        "--objectives best_val_loss: the space searches loss (ce, wcce), and different losses have different "
        "scales, so a lower loss would mean another loss function, not a better model; use best_val_f1_macro "
        "or fix loss."
    )


@pytest.mark.parametrize(
    ("loss", "names", "reason", "fix"),
    [
        ("focal", {"focal_gamma"}, "shrinks every term of the focal loss by", "focal_gamma"),
        ("attention", {"q", "beta"}, r"changes every class weight α_c .* \(it also searches q\)", "beta"),
        (
            "attention",
            {"stats_size"},
            "changes the class statistics behind every class weight of the attention",
            "stats_size",
        ),
        ("binary_focal", {"focal_alpha"}, "weighs label 1 by α and label 0 by 1 − α", "focal_alpha"),
        ("cb", {"cb_beta"}, "reweights the classes of the class-balanced loss", "cb_beta"),
        ("alpha", {"alpha"}, "weighs every term of the loss by its class's α", "alpha"),
    ],
)
def test_every_setting_that_changes_the_loss_is_refused(loss: str, names: set[str], reason: str, fix: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^--metric best_val_loss: the space searches {fix}, which {reason}"
    ) as caught:
        check_loss_objective("best_val_loss", {loss: names}, alternative="best_val_auc_ovr_macro")
    message = str(caught.value)
    assert "\n" not in message and ", not a better model" in message
    assert message.endswith(f"use best_val_auc_ovr_macro or fix {fix}.")


def test_what_does_not_change_the_loss_passes() -> None:
    # Settings of the model and optimiser: the loss function is the same in every trial.
    check_loss_objective("best_val_loss", {"attention": {"lr", "freeze_ratio", "head", "batch_size"}})
    check_loss_objective("best_val_loss", {"wcce": {"lr", "backbone"}})
    # Metrics that are not a loss are not on the loss's scale at all.
    for metric in ("best_val_f1_macro", "val_accuracy", "latency_ms"):
        assert not is_loss_metric(metric)
        check_loss_objective(metric, {"attention": {"n", "q"}, "focal": {"focal_alpha"}})
    assert loss_spec("ce").params == ()


def test_an_unknown_loss_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match=r"^loss must be one of .*, got 'nope'\.$"):
        check_loss_objective("best_val_loss", {"nope": {"lr"}})
