"""OOD scores of logits and their calibration on validation: orientation, thresholds, records, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import special

from raycxr.evaluation import (
    OOD_SCORES,
    DecisionRule,
    OODCalibration,
    calibrate_ood,
    check_quantile,
    decide_rule,
    ood_scores,
)


def _logits(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = rng.normal(0, 1, (n, 3))
    z[np.arange(n), y] += 4.0  # confident, mostly right
    return y, z


def test_scores_follow_their_definitions_and_are_higher_for_less_confident_logits() -> None:
    _, z = _logits()
    np.testing.assert_allclose(ood_scores(z, "energy"), -special.logsumexp(z, axis=1))
    np.testing.assert_allclose(ood_scores(z, "msp"), 1 - special.softmax(z, axis=1).max(axis=1))
    np.testing.assert_allclose(ood_scores(z, "max_logit"), -z.max(axis=1))
    flat = np.zeros((1, 3))  # no evidence for any class
    for kind in OOD_SCORES:
        assert ood_scores(flat, kind)[0] > np.median(ood_scores(z, kind))


def test_one_logit_of_a_binary_model_is_read_as_two_classes() -> None:
    z = np.array([[2.0], [-1.0]])
    np.testing.assert_allclose(ood_scores(z, "energy"), -np.logaddexp(0.0, z[:, 0]))


def test_the_threshold_is_the_validation_quantile() -> None:
    _, z = _logits()
    calibration = calibrate_ood(z)
    scores = ood_scores(z)
    for q in (0.5, 0.9, 0.95, 0.99, 1.0):
        assert calibration.threshold(q) == pytest.approx(np.quantile(scores, q), rel=1e-12, abs=1e-12)
    assert np.mean(calibration.flag(scores, 0.9)) == pytest.approx(0.1, abs=0.01)
    assert not calibration.flag(scores, 1.0).any()


def test_the_calibration_travels_with_the_rule_through_json_and_torch(tmp_path: Path) -> None:
    y, z = _logits()
    proba = special.softmax(z, axis=1)
    rule = decide_rule(y, proba, ("a", "b", "c"), logits_val=z)
    assert rule.ood is not None and rule.ood.n == len(y) and rule.ood.score == "energy"
    torch.save({"best_rule": rule.to_dict()}, tmp_path / "state.pt")
    assert DecisionRule.from_dict(torch.load(tmp_path / "state.pt", weights_only=True)["best_rule"]) == rule
    assert DecisionRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    older = {k: v for k, v in rule.to_dict().items() if k != "ood"}  # a record of an older raycxr
    assert DecisionRule.from_dict(older).ood is None
    assert decide_rule(y, proba, ("a", "b", "c")).ood is None  # from probabilities alone: none


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, 95, "x", None, float("nan")])
def test_bad_quantiles_are_one_line_errors(bad: object) -> None:
    with pytest.raises(ValueError, match=r"OOD quantile must be a number in \(0, 1\]") as error:
        check_quantile(bad)
    assert "\n" not in str(error.value)
    _, z = _logits()
    with pytest.raises(ValueError, match="OOD quantile"):
        calibrate_ood(z).threshold(bad)  # type: ignore[arg-type]


def test_bad_calibrations_and_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        ood_scores(np.zeros((2, 2)), "entropy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-decreasing"):
        OODCalibration("energy", tuple(np.linspace(1, 0, 101)), 10)
    with pytest.raises(ValueError, match="not an OOD calibration"):
        OODCalibration.from_dict({"score": "energy"})
    with pytest.raises(ValueError, match="NaN"):
        ood_scores(np.array([[np.nan, 0.0]]))
    assert calibrate_ood(np.zeros((0, 3))) is None
