"""Multi-label metrics against scikit-learn on a fixed table with unknown entries; per-label thresholds; the rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from raycxr.evaluation import (
    MULTILABEL_METRICS,
    PER_LABEL_METRICS,
    SCALAR_METRICS,
    DecisionRule,
    choose_thresholds,
    decide_rule,
    default_rule,
    multilabel_metrics,
)

NAN = math.nan
CLASSES = ("Atelectasis", "Cardiomegaly", "Edema", "Effusion")


def _table() -> tuple[np.ndarray, np.ndarray]:
    """40 images × 4 labels: Cardiomegaly has known negatives only, Edema is never known; ties in Effusion."""
    rng = np.random.default_rng(7)
    n = 40
    labels = (rng.random((n, 4)) < [0.3, 0.0, 0.5, 0.4]).astype(np.float32)
    labels[rng.random((n, 4)) < 0.25] = NAN
    labels[:, 2] = NAN
    proba = np.clip(0.35 * labels + 0.65 * rng.random((n, 4)), 0.0, 1.0)
    proba = np.nan_to_num(proba, nan=0.4)
    proba[:, 3] = np.round(proba[:, 3], 1)  # ties
    return labels, proba


def test_metrics_equal_scikit_learn_on_the_known_entries() -> None:
    labels, proba = _table()
    thresholds = np.array([0.4, 0.9, 0.5, 0.55])
    out = multilabel_metrics(labels, proba, CLASSES, thresholds)
    assert set(MULTILABEL_METRICS) | {f"{m}/{c}" for m in PER_LABEL_METRICS for c in CLASSES} == set(out)
    assert {"f1_macro", "auc_ovr_macro", "precision_macro", "recall_macro"} <= set(SCALAR_METRICS)
    aucs, aps, f1s = [], [], []
    for j, name in enumerate(CLASSES):
        known = ~np.isnan(labels[:, j])
        y, p = labels[known, j].astype(int), proba[known, j]
        pred = (p >= thresholds[j]).astype(int)
        assert out[f"support/{name}"] == int(y.sum()) and out[f"threshold/{name}"] == thresholds[j]
        if 0 < y.sum() < len(y):
            aucs.append(roc_auc_score(y, p))
            assert out[f"auc/{name}"] == pytest.approx(aucs[-1])
        else:
            assert math.isnan(out[f"auc/{name}"])
        if y.sum() > 0:
            aps.append(average_precision_score(y, p))
            assert out[f"ap/{name}"] == pytest.approx(aps[-1])
        else:
            assert math.isnan(out[f"ap/{name}"])
        if y.sum() + pred.sum() > 0:
            f1s.append(f1_score(y, pred))
            assert out[f"f1/{name}"] == pytest.approx(f1s[-1])
            assert out[f"precision/{name}"] == pytest.approx(precision_score(y, pred, zero_division=0))
            assert out[f"recall/{name}"] == pytest.approx(recall_score(y, pred, zero_division=0))
        else:
            assert math.isnan(out[f"f1/{name}"])
    # Atelectasis and Effusion have both classes; Cardiomegaly only negatives (F1 0 when predicted, else
    # undefined); Edema nothing known.
    assert len(aucs) == 2 and len(aps) == 2 and math.isnan(out["auc/Edema"]) and out["support/Edema"] == 0
    assert out["auc_ovr_macro"] == pytest.approx(np.mean(aucs))
    assert out["ap_macro"] == pytest.approx(np.mean(aps))
    assert out["f1_macro"] == pytest.approx(np.mean(f1s))
    known = ~np.isnan(labels)
    pooled_y, pooled_p = labels[known].astype(int), proba[known]
    pooled_pred = (proba >= thresholds).astype(int)[known]
    assert out["f1_micro"] == pytest.approx(f1_score(pooled_y, pooled_pred))
    assert out["ap_micro"] == pytest.approx(average_precision_score(pooled_y, pooled_p))
    json.dumps(out)


def _same(a: dict, b: dict) -> bool:
    """Equal metric dicts, NaN equal to NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_default_thresholds_are_one_half() -> None:
    labels, proba = _table()
    assert _same(multilabel_metrics(labels, proba, CLASSES), multilabel_metrics(labels, proba, CLASSES, [0.5] * 4))


def _f1(y: np.ndarray, p: np.ndarray, t: float) -> float:
    return f1_score(y, (p >= t).astype(int), zero_division=0)


def test_chosen_thresholds_maximise_each_labels_f1_on_validation() -> None:
    labels, proba = _table()
    chosen = choose_thresholds(labels, proba)
    assert chosen.shape == (4,) and chosen[1] == chosen[2] == 0.5  # no known positive: the default
    for j in (0, 3):
        known = ~np.isnan(labels[:, j])
        y, p = labels[known, j].astype(int), proba[known, j]
        best = _f1(y, p, chosen[j])
        candidates = np.concatenate([np.unique(p), np.linspace(0, 1, 101)])
        assert best >= max(_f1(y, p, t) for t in candidates) - 1e-12
        # The highest of the thresholds with the best F1: a little above it, F1 is lower.
        assert _f1(y, p, np.nextafter(chosen[j], 1.0)) < best
    with pytest.raises(ValueError, match=r"^threshold method must be 'f1', got 'youden'\.$"):
        choose_thresholds(labels, proba, method="youden")


def test_the_rule_carries_per_label_thresholds_and_round_trips() -> None:
    labels, proba = _table()
    rule = decide_rule(labels, proba, CLASSES)
    assert default_rule(4, multilabel=True) == "thresholds" and default_rule(4) == "argmax"
    assert rule.rule == "thresholds" and rule.multilabel and rule.positive is None
    assert rule.temperature is None and rule.ood is None and rule.threshold is None
    np.testing.assert_array_equal(rule.thresholds, choose_thresholds(labels, proba))
    assert decide_rule(labels, proba, CLASSES, rule="thresholds") == rule
    stored = json.loads(json.dumps(rule.to_dict()))
    assert DecisionRule.from_dict(stored) == rule
    assert rule.describe().startswith("per-label thresholds (max F1 on validation): Atelectasis ")
    predicted = rule.predict(proba)
    assert predicted.shape == (40, 4) and predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, (proba >= np.array(rule.thresholds)).astype(int))
    assert _same(
        multilabel_metrics(labels, proba, CLASSES, rule), multilabel_metrics(labels, proba, CLASSES, rule.thresholds)
    )


def test_single_label_rules_are_unchanged() -> None:
    rule = DecisionRule(("a", "b"), "youden", threshold=0.3)
    assert "thresholds" not in rule.to_dict() and not rule.multilabel and rule.positive == 1
    assert DecisionRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(ValueError, match=r"^a multi-label task needs a rule 'thresholds', got rule 'youden'\.$"):
        multilabel_metrics(np.ones((2, 2)), np.ones((2, 2)), ("a", "b"), rule)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": (0.5,)}, r"^decision rule 'thresholds' needs 2 thresholds in \[0, 1\] \(one per label\)"),
        ({"thresholds": (0.5, 1.2)}, r"needs 2 thresholds in \[0, 1\]"),
        ({"thresholds": None}, r"needs 2 thresholds in \[0, 1\] \(one per label\), got None$"),
        ({"thresholds": (0.5, 0.5), "temperature": 1.5}, r"^decision rule 'thresholds' takes no temperature"),
        ({"thresholds": (0.5, 0.5), "threshold": 0.5}, r"takes per-label thresholds, not threshold or target$"),
    ],
)
def test_a_bad_thresholds_rule_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecisionRule(("a", "b"), "thresholds", **kwargs)


def test_rules_of_the_other_task_are_refused() -> None:
    labels, proba = _table()
    with pytest.raises(ValueError, match=r"^decision rule 'argmax' takes no per-label thresholds"):
        DecisionRule(("a", "b"), "argmax", thresholds=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"^a multi-label task's decision rule is 'thresholds' \(or 'auto'\), got"):
        decide_rule(labels, proba, CLASSES, rule="youden")
    with pytest.raises(ValueError, match=r"needs a multi-label table \(N, L\), got labels of shape \(3,\)$"):
        decide_rule(np.array([0, 1, 1]), np.full((3, 2), 0.5), ("a", "b"), rule="thresholds")
    rule = DecisionRule(CLASSES, "thresholds", thresholds=(0.5,) * 4)
    with pytest.raises(ValueError, match=r"needs probabilities \(N, 4\), got shape \(40, 3\)$"):
        rule.predict(proba[:, :3])


def test_bad_inputs_are_named() -> None:
    labels, proba = _table()
    with pytest.raises(ValueError, match=r"^proba must have the labels' shape \(40, 4\)"):
        multilabel_metrics(labels, proba[:, :3], CLASSES)
    with pytest.raises(ValueError, match=r"^labels has 4 labels but 3 names were given"):
        multilabel_metrics(labels, proba, CLASSES[:3])
    with pytest.raises(ValueError, match=r"^thresholds must be 4 numbers in \[0, 1\] \(one per label\)"):
        multilabel_metrics(labels, proba, CLASSES, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"^proba must lie in \[0, 1\]"):
        choose_thresholds(labels, proba + 1)
