"""One metric module: every table computes the same numbers from the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from raycxr.evaluation import DecisionRule, bootstrap_ci, classification_metrics, macro_f1

CLASSES = ("a", "b", "c")


def test_metrics_equal_scikit_learn_on_known_predictions() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    proba[np.arange(200)[:120], y[:120]] += 1.0  # 60 % clearly right
    proba /= proba.sum(1, keepdims=True)
    pred = proba.argmax(1)
    m = classification_metrics(y, proba, CLASSES)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        assert m[f"precision_{avg}"] == pytest.approx(precision_score(y, pred, average=avg))
        assert m[f"recall_{avg}"] == pytest.approx(recall_score(y, pred, average=avg))
        assert m[f"f1_{avg}"] == pytest.approx(f1_score(y, pred, average=avg))
    assert m["auc_ovr_macro"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    cm = confusion_matrix(y, pred)
    assert m["confusion_matrix"] == cm.tolist()
    for c, name in enumerate(CLASSES):
        tp = cm[c, c]
        fn = cm[c].sum() - tp
        fp = cm[:, c].sum() - tp
        tn = cm.sum() - tp - fn - fp
        assert m["sensitivity"][name] == pytest.approx(tp / (tp + fn))
        assert m["specificity"][name] == pytest.approx(tn / (tn + fp))


def test_perfect_and_missing_class() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.eye(3)[y]
    m = classification_metrics(y, proba, CLASSES)
    assert m["accuracy"] == 1.0 and m["auc_ovr_macro"] != m["auc_ovr_macro"]  # NaN: class c absent
    assert m["sensitivity"]["c"] != m["sensitivity"]["c"] and m["specificity"]["c"] == 1.0
    binary = classification_metrics(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ("x", "y"))
    assert binary["auc_ovr_macro"] == 1.0


def test_a_class_absent_from_labels_and_predictions_gives_one_macro_f1_everywhere() -> None:
    # A fixed prediction table over three classes in which class c neither occurs nor is predicted.
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    pred = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    proba = np.eye(3)[pred] * 0.9 + 0.1 / 3
    expected = f1_score(y, pred, labels=[0, 1], average="macro")  # class c left out of the mean
    table = classification_metrics(y, proba, CLASSES)["f1_macro"]  # fit, CV folds and summary
    bootstrap = bootstrap_ci(macro_f1, y, proba, n_boot=100).estimate  # the final test table
    assert table == pytest.approx(expected) and macro_f1(y, proba) == pytest.approx(expected)
    assert bootstrap == pytest.approx(expected)


def test_a_two_class_rule_decides_every_metric() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.1, 0.3, 0.45, 0.4, 0.6, 0.9])
    proba = np.stack([1 - p1, p1], axis=1)
    rule = DecisionRule(("Normal", "COVID"), "youden", threshold=0.4)
    m = classification_metrics(y, proba, rule.classes, rule)
    pred = (p1 >= 0.4).astype(int)  # not the arg max: 0.4 and 0.45 go to COVID (0.45 wrongly)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred)) and m["threshold"] == 0.4
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["f1_macro"] == pytest.approx(macro_f1(y, proba, rule))
    assert m["sensitivity_pos"] == 1.0 and m["specificity_pos"] == pytest.approx(2 / 3)
