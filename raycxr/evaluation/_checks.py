"""Input validation shared by the evaluation functions: one precise ``ValueError`` per mistake."""

from __future__ import annotations

import numpy as np

# float32 softmax outputs sum to 1 within ~1e-7 per row; 1e-5 tolerates that and catches real mistakes.
SUM_TOLERANCE = 1e-5


def check_labels(y: object, name: str = "y_true") -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of integer labels.

    Raises:
        ValueError: Not 1-D, empty, or holding non-integral values.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")


def check_proba(proba: object, n: int, name: str = "proba") -> np.ndarray:
    """Return ``proba`` as an (n, K) float array of probabilities whose rows sum to 1, K ≥ 2.

    Raises:
        ValueError: Wrong shape, non-finite or out-of-range entries, or a row not summing to 1.
    """
    arr = np.asarray(proba, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape (n, K) with n = {n} rows (one per label), got shape {arr.shape}")
    if arr.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 columns (classes), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{arr.min():g}, {arr.max():g}]")
    sums = arr.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"rows of {name} must sum to 1 (± {SUM_TOLERANCE:g}); {bad.size} do not, the first is row {bad[0]} "
            f"summing to {sums[bad[0]]:.6g}"
        )
    return arr


def check_labels_in_range(y: np.ndarray, n_classes: int, name: str = "y_true") -> None:
    """Raise unless every label is one of ``0 … n_classes − 1``."""
    bad = y[(y < 0) | (y >= n_classes)]
    if bad.size:
        raise ValueError(
            f"{name} contains label {bad[0]}, expected labels 0..{n_classes - 1} (one per column of the probabilities)"
        )


def check_labels_proba(y_true: object, proba: object, proba_name: str = "proba") -> tuple[np.ndarray, np.ndarray]:
    """Validate a label vector and its (n, K) probability table together."""
    y = check_labels(y_true)
    p = check_proba(proba, len(y), proba_name)
    check_labels_in_range(y, p.shape[1])
    return y, p


def check_binary(y: object, name: str = "y_binary") -> np.ndarray:
    """Return ``y`` as a 1-D bool array; its values must be 0/1 (or bool).

    Raises:
        ValueError: Not 1-D, empty, or a value other than 0 and 1.
    """
    arr = check_labels(y, name)
    bad = arr[(arr != 0) & (arr != 1)]
    if bad.size:
        raise ValueError(f"{name} must hold 0 (negative) and 1 (positive) only, got {bad[0]}")
    return arr.astype(bool)


def check_both_classes(y: np.ndarray, name: str = "y_binary", at_least: int = 1) -> None:
    """Raise unless ``y`` (bool) holds at least ``at_least`` positives and as many negatives."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives < at_least or negatives < at_least:
        raise ValueError(
            f"{name} must contain at least {at_least} positive(s) and {at_least} negative(s), "
            f"got {positives} positives and {negatives} negatives"
        )


def check_scores(score: object, n: int, name: str = "score") -> np.ndarray:
    """Return ``score`` as a finite 1-D float array of length ``n``."""
    arr = np.asarray(score, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like the labels, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_groups(groups: object, n: int, name: str = "groups") -> np.ndarray:
    """Return ``groups`` as a 1-D array of strings of length ``n`` (values are compared as strings)."""
    arr = np.asarray(groups)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like the labels, got shape {arr.shape}")
    return arr.astype(str)


def check_level(level: float, name: str = "level") -> float:
    """Return ``level`` if it lies strictly between 0 and 1."""
    if not 0 < level < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def check_fraction(value: float, name: str) -> float:
    """Return ``value`` if it lies in (0, 1] (a target sensitivity or specificity)."""
    if not 0 < value <= 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return float(value)


def check_n_bins(n_bins: int) -> int:
    """Return ``n_bins`` if it is an integer ≥ 1."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def check_class_index(class_index: int, n_classes: int, name: str = "class_index") -> int:
    """Return ``class_index`` if it names one of the ``n_classes`` columns."""
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
        raise ValueError(f"{name} must be an integer column index, got {class_index!r}")
    if not 0 <= class_index < n_classes:
        raise ValueError(f"{name} must be in 0..{n_classes - 1}, got {class_index}")
    return int(class_index)


def check_multilabel_proba(proba: object, shape: tuple[int, ...], name: str = "proba") -> np.ndarray:
    """Return ``proba`` as a float array of per-label probabilities of ``shape`` (that of the label table).

    Unlike class probabilities the rows need not sum to 1: each entry is one label's sigmoid.

    Raises:
        ValueError: Another shape, or non-finite or out-of-range entries.
    """
    arr = np.asarray(proba, dtype=float)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the labels' shape {tuple(shape)} (one column per label), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{arr.min():g}, {arr.max():g}]")
    return arr
