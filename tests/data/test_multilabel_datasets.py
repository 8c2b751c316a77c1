"""Multi-label datasets: the (N, L) DatasetIndex and uncertain labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raycxr.data import DatasetIndex, apply_uncertain

NAN = np.nan


def _index(labels: list[list[float]], classes: tuple[str, ...] = ("a", "b", "c")) -> DatasetIndex:
    n = len(labels)
    return DatasetIndex(
        paths=tuple(Path(f"/x/{i}.png") for i in range(n)),
        labels=np.array(labels, dtype=np.float32),
        classes=classes,
        groups=np.array([f"p{i // 2}" for i in range(n)], dtype=object),
        official_test=np.arange(n) >= n - 1,
    )


# --- DatasetIndex ------------------------------------------------------------------------------------------


def test_a_multilabel_index_counts_positives_and_subsets_rows() -> None:
    index = _index([[1, 0, NAN], [1, -1, 0], [0, 1, NAN], [NAN, NAN, NAN]])
    assert index.multilabel and index.labels.shape == (4, 3)
    assert index.class_counts.tolist() == [2, 1, 0] and index.class_counts.dtype == np.int64
    part = index.subset(np.array([False, True, False, True]))
    assert part.multilabel and part.paths == (Path("/x/1.png"), Path("/x/3.png"))
    np.testing.assert_array_equal(part.labels, np.array([[1, -1, 0], [NAN, NAN, NAN]], dtype=np.float32))
    assert part.groups.tolist() == ["p0", "p1"] and part.official_test.tolist() == [False, True]
    assert index.subset(np.array([2, 0])).labels[:, 0].tolist() == [0, 1]


def test_a_multilabel_index_refuses_bad_shapes_and_values() -> None:
    with pytest.raises(ValueError, match=r"labels have 2 column\(s\) but there are 3 label names"):
        _index([[1, 0], [0, 1]])
    with pytest.raises(
        ValueError,
        match=r"label value 2\.0 \(row 1, label 'b'; 2 such value\(s\)\) is not one of 1 \(positive\), 0 \(negative\), "
        r"-1 \(uncertain\), NaN \(not mentioned\)",
    ):
        _index([[1, 0, 0], [0, 2, 0.5]])
    with pytest.raises(ValueError, match="multi-label labels must be float"):
        DatasetIndex(paths=(Path("/a.png"),), labels=np.ones((1, 2), dtype=np.int64), classes=("a", "b"))
    with pytest.raises(ValueError, match=r"not \(1, 2, 2\)"):
        DatasetIndex(paths=(Path("/a.png"),), labels=np.ones((1, 2, 2), dtype=np.float32), classes=("a", "b"))


def test_a_single_label_index_is_unchanged() -> None:
    index = DatasetIndex(
        paths=tuple(Path(f"/{i}.png") for i in range(4)), labels=np.array([0, 2, 2, 0]), classes=tuple("abc")
    )
    assert not index.multilabel
    assert index.class_counts.tolist() == [2, 0, 2]
    assert index.subset(np.array([1, 2])).labels.tolist() == [2, 2]


def test_apply_uncertain() -> None:
    labels = np.array([[1, 0, -1, NAN], [-1, -1, 0, 1]], dtype=np.float32)
    kept = labels.copy()
    np.testing.assert_array_equal(apply_uncertain(labels, "zeros"), [[1, 0, 0, NAN], [0, 0, 0, 1]])
    np.testing.assert_array_equal(apply_uncertain(labels, "ones"), [[1, 0, 1, NAN], [1, 1, 0, 1]])
    np.testing.assert_array_equal(apply_uncertain(labels, "ignore"), [[1, 0, NAN, NAN], [NAN, NAN, 0, 1]])
    assert apply_uncertain(labels, "ones").dtype == np.float32
    np.testing.assert_array_equal(labels, kept)  # a copy
    with pytest.raises(ValueError, match=r"uncertain-label policy 'U-Ones' is not one of ignore, zeros, ones\."):
        apply_uncertain(labels, "U-Ones")
