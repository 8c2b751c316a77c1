"""The Mahalanobis feature OOD score: fitted on training features, calibrated on validation, stored small."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import special
from sklearn.metrics import roc_auc_score

from raycxr.evaluation import FEATURE_SCORE, DecisionRule, FeatureOOD, decide_rule, fit_feature_ood


def _features(n: int, dim: int = 96, seed: int = 0, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes on a 10-d subspace of ``dim`` features (plus noise), shifted off it by ``shift``."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).normal(size=(10, dim))
    y = rng.integers(0, 3, n)
    centres = np.random.default_rng(98).normal(0, 3, (3, 10))
    x = (centres[y] + rng.normal(size=(n, 10))) @ basis + 0.1 * rng.normal(size=(n, dim))
    return x + shift * rng.normal(size=(n, dim)), y


def test_it_separates_features_off_the_training_distribution_and_thresholds_at_the_validation_quantile() -> None:
    x, y = _features(400)
    v, _ = _features(150, seed=1)
    far, _ = _features(100, seed=2, shift=1.0)
    record = fit_feature_ood(x, y, v)
    assert record is not None and record.n_train == 400 and record.n == 150
    assert record.components.shape[0] <= 64 and record.class_means.shape[0] == 3
    s_val, s_far = record.scores(v), record.scores(far)
    assert roc_auc_score(np.r_[np.zeros(len(s_val)), np.ones(len(s_far))], np.r_[s_val, s_far]) > 0.99
    assert record.threshold(0.9) == pytest.approx(np.quantile(s_val, 0.9), rel=1e-9)
    assert not record.flag(s_val, 1.0).any() and record.flag(s_far).mean() > 0.9
    assert record.describe().startswith(f"{FEATURE_SCORE} score of the features")


def test_no_validation_rows_or_one_training_row_give_none_and_bad_widths_a_one_line_error() -> None:
    x, y = _features(50)
    assert fit_feature_ood(x, y, x[:0]) is None
    assert fit_feature_ood(x[:1], y[:1], x) is None
    with pytest.raises(ValueError, match="differ in width"):
        fit_feature_ood(x, y, x[:, :5])
    with pytest.raises(ValueError, match="takes 96 features"):
        fit_feature_ood(x, y, x).scores(x[:, :5])  # type: ignore[union-attr]


def test_the_record_travels_with_the_rule_through_json_and_torch(tmp_path: Path) -> None:
    x, y = _features(300)
    v, yv = _features(100, seed=1)
    z = np.eye(3)[yv] * 4.0
    rule = decide_rule(yv, special.softmax(z, axis=1), ("a", "b", "c"), logits_val=z)
    rule = dataclasses.replace(rule, features=fit_feature_ood(x, y, v))
    torch.save({"best_rule": rule.to_dict()}, tmp_path / "state.pt")
    back = DecisionRule.from_dict(torch.load(tmp_path / "state.pt", weights_only=True)["best_rule"])
    assert back == rule and back.features is not None
    np.testing.assert_array_equal(back.features.scores(v), rule.features.scores(v))  # type: ignore[union-attr]
    assert DecisionRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    older = {k: v for k, v in rule.to_dict().items() if k != "features"}  # a record of an older raycxr
    assert DecisionRule.from_dict(older).features is None
    with pytest.raises(ValueError, match="not a feature OOD record"):
        FeatureOOD.from_dict({"mean": [0.0]})


def test_a_mobilenet_v2_record_stays_small() -> None:
    """1280-d features (MobileNetV2's): 64 components; the size stated in the module and the README."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 1280)), rng.integers(0, 3, 300)
    record = fit_feature_ood(x, y, rng.normal(size=(50, 1280)))
    assert record is not None and record.components.shape == (64, 1280)
    numbers = sum(np.size(v) for v in record.to_dict().values())
    assert numbers < 90_000
    assert len(json.dumps(record.to_dict())) < 1.5e6
