"""The decision rule: decided once on validation, stored, read back, applied the same way by everyone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raycxr.evaluation import DecisionRule, decide_rule, positive_class, youden_threshold


def _binary(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.3 * y + rng.normal(0.35, 0.15, n), 0.01, 0.99)  # a shifted score: arg max is not optimal
    return y, np.stack([1 - p1, p1], axis=1)


def test_auto_is_youden_for_two_classes_and_argmax_for_more() -> None:
    y, proba = _binary()
    rule = decide_rule(y, proba, ("Normal", "COVID"))
    assert rule.rule == "youden" and rule.threshold == pytest.approx(youden_threshold(y, proba[:, 1]))
    assert rule.threshold < 0.5  # the shifted scores want a lower threshold than the arg max
    assert rule.temperature is not None and rule.temperature > 0
    assert rule.positive == 1 and positive_class(rule.classes) == 1
    three = decide_rule(np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 2, 0]] * 0.7 + 0.1, ("a", "b", "c"))
    assert three.rule == "argmax" and three.threshold is None


def test_target_specificity_rule_reaches_its_target_on_validation() -> None:
    y, proba = _binary()
    rule = decide_rule(y, proba, ("Normal", "COVID"), "specificity", target=0.95)
    negatives = proba[y == 0, 1]
    assert np.mean(negatives < rule.threshold) >= 0.95 and rule.target == 0.95


def test_the_rule_survives_json_and_torch_checkpoints(tmp_path) -> None:
    y, proba = _binary()
    rule = decide_rule(y, proba, ("Normal", "COVID"))
    torch.save({"best_rule": rule.to_dict()}, tmp_path / "state.pt")
    back = DecisionRule.from_dict(torch.load(tmp_path / "state.pt", weights_only=True)["best_rule"])
    assert back == rule
    assert np.array_equal(back.predict(proba), (proba[:, 1] >= rule.threshold).astype(int))
    calibrated = back.calibrate(proba)
    assert np.array_equal(calibrated.argmax(1), proba.argmax(1)) and not np.allclose(calibrated, proba)


def test_bad_rules_are_refused_with_one_line() -> None:
    with pytest.raises(ValueError, match="needs two classes"):
        DecisionRule(("a", "b", "c"), "youden", threshold=0.3)
    with pytest.raises(ValueError, match="threshold in"):
        DecisionRule(("a", "b"), "youden", threshold=1.5)
    with pytest.raises(ValueError, match="must be one of"):
        DecisionRule(("a", "b"), "median")
    with pytest.raises(ValueError, match="not a decision rule"):
        DecisionRule.from_dict({"rule": "argmax"})


def test_positive_class_of_more_classes_is_covid_when_named() -> None:
    assert positive_class(("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")) == 0
    assert positive_class(("Normal", "Pneumonia", "covid-19")) == 2
    assert positive_class(("a", "b", "c")) == 0
