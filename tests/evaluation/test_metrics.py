from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from raycxr.evaluation import accuracy, macro_auc, macro_f1
from tests.evaluation.tables import PRED, PROBA, Y, onehot


def test_the_table_predicts_what_its_docstring_says() -> None:
    assert PROBA.argmax(axis=1).tolist() == PRED.tolist()


def test_accuracy_and_macro_f1_by_hand() -> None:
    assert accuracy(Y, PROBA) == pytest.approx(7 / 10)  # rows 2, 5 and 8 are wrong
    # class 0: tp 3 (rows 0, 1, 9), fp 1 (row 5), fn 1 (row 2) -> 6/8
    # class 1: tp 2 (rows 3, 4), fp 2 (rows 2, 8), fn 1 (row 5) -> 4/7
    # class 2: tp 2 (rows 6, 7), fp 0, fn 1 (row 8)             -> 4/5
    assert macro_f1(Y, PROBA) == pytest.approx((6 / 8 + 4 / 7 + 4 / 5) / 3)
    assert macro_f1(Y, PROBA) == pytest.approx(f1_score(Y, PRED, average="macro"))


def test_macro_f1_leaves_out_a_class_absent_from_labels_and_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])  # class 2 neither occurs nor is predicted
    # class 0: 2/3, class 1: 4/5; sklearn counts class 2 as 0 unless zero_division=nan
    assert macro_f1(y, onehot(pred)) == pytest.approx((2 / 3 + 4 / 5) / 2)
    expected = f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=np.nan)
    assert macro_f1(y, onehot(pred)) == pytest.approx(expected)


def test_macro_auc_matches_sklearn_and_refuses_an_absent_class() -> None:
    assert macro_auc(Y, PROBA) == pytest.approx(roc_auc_score(Y, PROBA, multi_class="ovr", average="macro"))
    binary = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    assert macro_auc([0, 1, 1, 0], binary) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="class 2 is absent"):
        macro_auc(Y[:6], PROBA[:6])
