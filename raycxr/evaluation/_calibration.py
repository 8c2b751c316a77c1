"""Calibration: expected calibration error, Brier score, reliability curves and temperature scaling."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize, special

from raycxr.evaluation._checks import (
    check_class_index,
    check_labels,
    check_labels_in_range,
    check_labels_proba,
    check_n_bins,
    check_proba,
)

# log(0) would make the NLL infinite for every T; clip probabilities here before taking logs.
PROBA_FLOOR = 1e-12
# Temperatures searched; a fit at either end means the data do not pin T down (e.g. perfectly separated).
T_BOUNDS = (1e-2, 1e2)


@dataclasses.dataclass(frozen=True)
class ReliabilityCurve:
    """One-vs-rest reliability of one class, per non-empty equal-width bin of its predicted probability.

    Attributes:
        class_index: The class (column of the probabilities).
        bin_low, bin_high: Edges of each bin, ``(low, high]`` (the first bin also holds 0).
        mean_predicted: Mean predicted probability of the class in the bin.
        observed: Fraction of the bin's rows that truly are the class.
        count: Rows in the bin.
    """

    class_index: int
    bin_low: np.ndarray
    bin_high: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray


def _bin_ids(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins on [0, 1], closed on the right: ``(k/M, (k+1)/M]``, bin 0 also holding 0.

    Same rule as ``sklearn.calibration.calibration_curve`` and Guo et al. (2017).
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], values, side="left"), edges


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: ``Σ_bins (n_b / n) · |accuracy_b − mean confidence_b|``.

    The confidence of a row is its largest probability, its prediction the argmax; bins are
    equal-width on [0, 1] and closed on the right (a confidence of exactly 0.6 with 5 bins falls
    in (0.4, 0.6]).

    Raises:
        ValueError: Bad labels/probabilities or ``n_bins < 1``.
    """
    y, p = check_labels_proba(y_true, proba)
    n_bins = check_n_bins(n_bins)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    ids, _ = _bin_ids(confidence, n_bins)
    gap = np.bincount(ids, weights=correct, minlength=n_bins) - np.bincount(ids, weights=confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / len(y))  # Σ (n_b/n)|acc_b − conf_b| = Σ |Σ_b (correct − conf)| / n


def brier_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of ``Σ_k (p_k − 1[y = k])²`` (0 best, 2 worst).

    Raises:
        ValueError: Bad labels/probabilities.
    """
    y, p = check_labels_proba(y_true, proba)
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def reliability_curve(y_true: np.ndarray, proba: np.ndarray, class_index: int, n_bins: int = 15) -> ReliabilityCurve:
    """Reliability curve of ``class_index`` versus the rest over equal-width bins (empty bins left out).

    Raises:
        ValueError: Bad labels/probabilities, a column index out of range, or ``n_bins < 1``.
    """
    y, p = check_labels_proba(y_true, proba)
    class_index = check_class_index(class_index, p.shape[1])
    n_bins = check_n_bins(n_bins)
    score = p[:, class_index]
    is_class = (y == class_index).astype(float)
    ids, edges = _bin_ids(score, n_bins)
    count = np.bincount(ids, minlength=n_bins)
    full = count > 0
    mean_predicted = np.bincount(ids, weights=score, minlength=n_bins)[full] / count[full]
    observed = np.bincount(ids, weights=is_class, minlength=n_bins)[full] / count[full]
    return ReliabilityCurve(class_index, edges[:-1][full], edges[1:][full], mean_predicted, observed, count[full])


def _logits(values: object, n: int, from_proba: bool, name: str) -> np.ndarray:
    if from_proba:
        try:
            p = check_proba(values, n, name)
        except ValueError as error:
            raise ValueError(f"{error} (if these are logits, pass from_proba=False)") from error
        return np.log(np.clip(p, PROBA_FLOOR, None))
    z = np.asarray(values, dtype=float)
    if z.ndim != 2 or z.shape[0] != n or z.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, K) with n = {n} rows and K >= 2, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return z


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    log_p = special.log_softmax(logits / temperature, axis=1)
    return float(-np.mean(log_p[np.arange(len(y)), y]))


def fit_temperature(proba_or_logits: np.ndarray, y_true: np.ndarray, *, from_proba: bool = True) -> float:
    """Temperature ``T > 0`` minimising the negative log-likelihood of ``softmax(logits / T)``.

    Fit it on validation data, never on the test rows it will be applied to. From probabilities
    the logits are ``log p`` (p clipped at 1e-12): softmax is shift-invariant, so this is exact
    for probabilities that came out of a softmax. The NLL is convex in ``1/T``, so the bounded
    scalar search over ``log T`` in [log 0.01, log 100] finds its one minimum; ``T > 1``
    softens over-confident predictions.

    Args:
        proba_or_logits: (n, K) probabilities (rows summing to 1) or logits.
        y_true: Integer labels, shape (n,).
        from_proba: Whether the first argument holds probabilities (else logits).

    Raises:
        ValueError: Bad shapes, labels out of range or probabilities not summing to 1.
    """
    y = check_labels(y_true)
    z = _logits(proba_or_logits, len(y), from_proba, "proba_or_logits")
    check_labels_in_range(y, z.shape[1])
    result = optimize.minimize_scalar(
        lambda log_t: _nll(z, y, math.exp(log_t)),
        bounds=(math.log(T_BOUNDS[0]), math.log(T_BOUNDS[1])),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(math.exp(result.x))


def apply_temperature(proba: np.ndarray, temperature: float, *, from_proba: bool = True) -> np.ndarray:
    """``softmax(log p / T)`` (or ``softmax(logits / T)`` with ``from_proba=False``): calibrated probabilities.

    Raises:
        ValueError: Bad probabilities/logits or a temperature that is not a positive finite number.
    """
    if not (isinstance(temperature, int | float | np.floating) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    arr = np.asarray(proba)
    n = arr.shape[0] if arr.ndim >= 1 else 0
    z = _logits(arr, n, from_proba, "proba" if from_proba else "logits")
    return special.softmax(z / temperature, axis=1)
