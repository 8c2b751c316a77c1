from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from raycxr.evaluation import average_precision_table, precision_recall_curves
from tests.evaluation.tables import PROBA, Y


def test_average_precision_by_hand_and_like_sklearn() -> None:
    curves = precision_recall_curves(Y, PROBA)
    assert list(curves) == [0, 1, 2]
    # Class 2 ranked by proba[:, 2]: rows 6 (.75, pos), 7 (.50, pos), then 7 negatives, row 8 (.02, pos) last.
    # AP = Σ ΔR · P = 1/3 · 1 + 1/3 · 1 + 1/3 · 3/10
    assert curves[2].average_precision == pytest.approx(2 / 3 + 0.1)
    for k, curve in curves.items():
        assert curve.average_precision == pytest.approx(average_precision_score(np.equal(Y, k), PROBA[:, k]))
        assert curve.recall[0] == 1.0 and curve.recall[-1] == 0.0
        assert len(curve.precision) == len(curve.recall) == len(curve.thresholds) + 1
    assert (curves[0].positives, curves[0].prevalence) == (4, 0.4)


def test_average_precision_table() -> None:
    table = average_precision_table(Y, PROBA, class_names=["COVID", "Normal", "Viral"])
    assert table["class"].tolist() == ["COVID", "Normal", "Viral"]
    assert table["positives"].tolist() == [4, 3, 3]
    assert table["prevalence"].tolist() == pytest.approx([0.4, 0.3, 0.3])
    assert table["average_precision"].iloc[2] == pytest.approx(2 / 3 + 0.1)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="class 2 has no rows in y_true"):
        precision_recall_curves(Y[:6], PROBA[:6])
    with pytest.raises(ValueError, match="class_names must name the 3 columns of proba, got 2 names"):
        average_precision_table(Y, PROBA, class_names=["a", "b"])
