"""A Mahalanobis out-of-distribution score of a model's penultimate features (Lee et al. 2018).

The logit scores of :mod:`raycxr.evaluation._ood` are near chance at telling chest radiographs
from other images (``benchmarks/ood_auroc.py``); the features before the classifier separate
them. The score of a feature vector ``x`` is its smallest squared Mahalanobis distance to a
class mean, with one covariance shared by the classes (Lee et al. 2018, "A simple unified
framework for detecting out-of-distribution samples and adversarial attacks"):

* the features are reduced by PCA (at most :data:`MAX_COMPONENTS` components) fitted on the
  **training** images' features, so the record stays small (MobileNetV2's 1280-d features:
  the 64 × 1280 projection dominates, about 90 k numbers, ~1 MB of JSON);
* in that space the class means and the shared covariance (Ledoit–Wolf shrinkage, so a
  covariance of few images is still invertible) are fitted on the same training features;
* the threshold quantiles are those of the **validation** images' scores, as
  :class:`~raycxr.evaluation.OODCalibration` keeps them: ``q = 0.95`` flags about 5 % of
  images like the validation images.

Everything is stored as plain lists (:meth:`FeatureOOD.to_dict`), so the record goes into JSON
and ``torch.load(weights_only=True)`` alike. Higher scores mean less like the training images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.covariance import LedoitWolf

from raycxr.evaluation._ood import DEFAULT_OOD_QUANTILE, LEVELS, check_quantile

#: The score's name in predict's reasons and descriptions.
FEATURE_SCORE = "mahalanobis"
#: The most PCA components kept (fewer when there are fewer training images or feature dimensions).
MAX_COMPONENTS = 64


def _matrix(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise ValueError(f"feature OOD {name} must be a 2-D array of finite numbers, got shape {array.shape}")
    return array


def _short(values: np.ndarray) -> list[Any]:
    """Nested lists of floats at 7 significant digits (float32 precision: a shorter JSON)."""
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[float])(values).tolist()


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureOOD:
    """The Mahalanobis feature score of one model and its distribution on the model's validation images.

    Attributes:
        mean: ``(D,)`` mean of the training features (PCA centre).
        components: ``(k, D)`` PCA axes (rows orthonormal).
        class_means: ``(K, k)`` class means of the projected training features.
        precision: ``(k, k)`` inverse of the shared covariance of the projected features.
        quantiles: The validation scores' quantiles at :data:`~raycxr.evaluation._ood.LEVELS`.
        n_train: Training images the projection, means and covariance were fitted on.
        n: Validation images the quantiles were taken on.
    """

    mean: np.ndarray
    components: np.ndarray
    class_means: np.ndarray
    precision: np.ndarray
    quantiles: np.ndarray
    n_train: int
    n: int

    def __post_init__(self) -> None:
        k, d = self.components.shape
        if self.mean.shape != (d,) or self.class_means.shape[1:] != (k,) or self.precision.shape != (k, k):
            raise ValueError(f"feature OOD arrays do not fit together ({k} components of {d} features)")
        q = self.quantiles
        if q.shape != LEVELS.shape or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
            raise ValueError(f"feature OOD quantiles must be {len(LEVELS)} non-decreasing finite numbers")
        if self.n < 1 or self.n_train < 1:
            raise ValueError(f"feature OOD needs training and validation images, got {self.n_train} and {self.n}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureOOD) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @property
    def dim(self) -> int:
        """The feature dimension ``D`` the score takes."""
        return int(self.components.shape[1])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The ``(N,)`` scores of features ``(N, D)``: the smallest squared Mahalanobis distance to a class mean.

        Raises:
            ValueError: Features that are not ``(N, D)`` finite numbers.
        """
        x = _matrix(features, "features")
        if x.shape[1] != self.dim:
            raise ValueError(f"the feature OOD score takes {self.dim} features, got {x.shape[1]}")
        diff = ((x - self.mean) @ self.components.T)[:, None, :] - self.class_means[None, :, :]
        return np.einsum("nkd,de,nke->nk", diff, self.precision, diff).min(axis=1)

    def threshold(self, quantile: float = DEFAULT_OOD_QUANTILE) -> float:
        """The score a fraction ``quantile`` of the validation images do not exceed.

        Raises:
            ValueError: ``quantile`` not in (0, 1].
        """
        return float(np.interp(check_quantile(quantile), LEVELS, self.quantiles))

    def flag(self, scores: np.ndarray, quantile: float = DEFAULT_OOD_QUANTILE) -> np.ndarray:
        """Whether each score is above :meth:`threshold` (out of distribution)."""
        return np.asarray(scores, dtype=float) > self.threshold(quantile)

    def describe(self, quantile: float = DEFAULT_OOD_QUANTILE) -> str:
        """One line, e.g. ``mahalanobis score of the features above 80 (95 % of 120 validation images pass)``."""
        return (
            f"{FEATURE_SCORE} score of the features ({len(self.components)} PCA components, {self.n_train} training "
            f"images) above {self.threshold(quantile):.4g} ({100 * quantile:g} % of {self.n} validation images pass)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (and ``torch.load(weights_only=True)``-ready) form; :meth:`from_dict` reads it."""
        return {
            "score": FEATURE_SCORE,
            "mean": _short(self.mean),
            "components": _short(self.components),
            "class_means": _short(self.class_means),
            "precision": [[float(v) for v in row] for row in self.precision],  # full precision: it is inverted
            "quantiles": [float(v) for v in self.quantiles],
            "n_train": self.n_train,
            "n": self.n,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FeatureOOD:
        """The record :meth:`to_dict` wrote.

        Raises:
            ValueError: A missing or invalid field.
        """
        try:
            return cls(
                mean=np.asarray(values["mean"], dtype=np.float64),
                components=_matrix(values["components"], "components"),
                class_means=_matrix(values["class_means"], "class means"),
                precision=_matrix(values["precision"], "precision"),
                quantiles=np.asarray(values["quantiles"], dtype=np.float64),
                n_train=int(values["n_train"]),
                n=int(values["n"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a feature OOD record ({type(error).__name__}: {error})") from None


def _principal_axes(centred: np.ndarray, components: int) -> np.ndarray:
    """The leading principal axes ``(k, D)`` of centred rows ``(N, D)``, ``k ≤ components``, rank-limited.

    From the leading eigenpairs of the smaller Gram matrix (``N × N`` or ``D × D``) rather than a
    full SVD of the rows: the same axes (up to sign, fixed here) at a fraction of the cost (0.02
    vs 0.3–0.7 s for 360 × 1280 on one core, 0.2 vs 1.0 s for 2048 × 1280). Axes whose singular
    value is below 1e-6 of the largest (rank deficiency) are dropped.
    """
    n, d = centred.shape
    gram = centred @ centred.T if n <= d else centred.T @ centred  # X Xᵀ = U S² Uᵀ, or Xᵀ X = V S² Vᵀ
    size = len(gram)
    top = min(components, size)  # only the leading eigenpairs are computed
    values, vectors = scipy.linalg.eigh(gram, subset_by_index=[size - top, size - 1])
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    singular = np.sqrt(values)
    if singular[0] <= 0:  # every row the same: any one axis
        return np.eye(1, d)
    keep = max(1, min(components, int(np.sum(singular > singular[0] * 1e-6))))
    vectors = vectors[:, :keep].T
    axes = vectors @ centred / singular[:keep, None] if n <= d else vectors  # from U: Vᵀ = S⁻¹ Uᵀ X
    # A deterministic sign: each axis's largest-magnitude coordinate positive.
    signs = np.sign(axes[np.arange(keep), np.abs(axes).argmax(axis=1)])
    return axes * np.where(signs == 0, 1.0, signs)[:, None]


def fit_feature_ood(
    features_train: np.ndarray,
    labels_train: np.ndarray,
    features_val: np.ndarray,
    components: int = MAX_COMPONENTS,
) -> FeatureOOD | None:
    """The Mahalanobis score fitted on training features and calibrated on validation features.

    Args:
        features_train: ``(N, D)`` penultimate features of the training images.
        labels_train: ``(N,)`` their labels (the class means).
        features_val: ``(M, D)`` features of the validation images (the threshold quantiles).
        components: The most PCA components kept.

    Returns:
        ``None`` without validation images or with fewer than two training images.

    Raises:
        ValueError: Features that are not finite 2-D arrays of one width.
    """
    x, v = _matrix(features_train, "training features"), _matrix(features_val, "validation features")
    if x.shape[1] != v.shape[1]:
        raise ValueError(f"training and validation features differ in width: {x.shape[1]} vs {v.shape[1]}")
    if len(x) < 2 or not len(v):
        return None
    mean = x.mean(axis=0)
    axes = _principal_axes(x - mean, components)
    z = (x - mean) @ axes.T
    y = np.asarray(labels_train)
    classes = np.unique(y)
    means = np.stack([z[y == c].mean(axis=0) for c in classes])
    centred = z - means[np.searchsorted(classes, y)]
    covariance = LedoitWolf(assume_centered=True).fit(centred).covariance_
    # Stored rounded (float32 digits): the scores predict computes are those the quantiles are of.
    mean, axes, means = (np.asarray(_short(a)) for a in (mean, axes, means))
    precision = np.linalg.pinv(covariance, hermitian=True)
    record = FeatureOOD(mean, axes, means, precision, np.zeros(len(LEVELS)), len(x), len(v))
    quantiles = np.maximum.accumulate(np.quantile(record.scores(v), LEVELS))
    return dataclasses.replace(record, quantiles=quantiles)
