"""Out-of-distribution scores of a classifier's logits, calibrated on its validation images.

A classifier answers for any input; the score says how unlike its validation images an input
looks to the model itself. Three scores of the logits ``z`` are offered, each oriented so that
**higher means less like the validation images**:

* ``energy``: the free energy ``−logsumexp(z)`` (Liu et al. 2020, "Energy-based
  out-of-distribution detection", with T = 1);
* ``msp``: ``1 − max softmax(z)`` (Hendrycks & Gimpel 2017, the maximum softmax probability);
* ``max_logit``: ``−max z`` (Hendrycks et al. 2022).

The calibration (:class:`OODCalibration`) keeps the validation scores' quantiles at the
levels 0, 0.01, …, 1; the threshold for a strictness ``q`` is the score that a fraction ``q``
of the validation images do not exceed (interpolated linearly between those levels), so
``q = 0.95`` flags about 5 % of images like the validation images and, the better the score
separates, most of the others. It is fitted where the decision rule is (see
:mod:`raycxr.evaluation._decision`) and stored in the rule's record. Which score is the
default was decided by ``benchmarks/ood_auroc.py`` (validation phantoms vs natural images,
CT/MR/ultrasound/colour DICOM files). All three are near chance there; ``predict`` judges the
Mahalanobis score of the penultimate features (:mod:`raycxr.evaluation._mahalanobis`) when the
model gives features, and one of these only as the fallback (an exported bundle, an older record).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import special

OOD_SCORES = ("energy", "msp", "max_logit")
OODScore = Literal["energy", "msp", "max_logit"]
#: The logit score stored with a new model (benchmarks/ood_auroc.py: the best AUROC of the three, all near
#: chance); predict's default is the feature score (:mod:`raycxr.evaluation._mahalanobis`), this its fallback.
DEFAULT_OOD_SCORE: OODScore = "energy"
#: Default strictness: the fraction of validation images whose score is not flagged.
DEFAULT_OOD_QUANTILE = 0.95
#: Quantile levels stored: 0, 0.01, …, 1 (a threshold at a whole percent is np.quantile's).
LEVELS = np.linspace(0.0, 1.0, 101)


def check_quantile(quantile: object) -> float:
    """``quantile`` as a float in (0, 1].

    Raises:
        ValueError: Not a number in (0, 1] (one line).
    """
    try:
        value = float(quantile)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise ValueError(
            f"the OOD quantile must be a number in (0, 1] (the fraction of validation images that pass, e.g. 0.95), "
            f"got {quantile!r}"
        )
    return value


def class_logits(logits: np.ndarray) -> np.ndarray:
    """``(N, K)`` float logits; one logit ``z`` of a binary model as ``[0, z]`` (as the losses read it).

    Raises:
        ValueError: Not a 2-D array of finite numbers.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 1:
        raise ValueError(f"logits must have shape (n, classes), got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinite values")
    return np.concatenate([np.zeros_like(z), z], axis=1) if z.shape[1] == 1 else z


def ood_scores(logits: np.ndarray, score: OODScore = DEFAULT_OOD_SCORE) -> np.ndarray:
    """The ``(N,)`` OOD scores of logits ``(N, K)`` (higher: less like the validation images).

    Raises:
        ValueError: An unknown score, or logits that are not ``(N, K)`` finite numbers.
    """
    if score not in OOD_SCORES:
        raise ValueError(f"OOD score must be one of {', '.join(OOD_SCORES)}, got {score!r}")
    z = class_logits(logits)
    if score == "energy":
        return -special.logsumexp(z, axis=1)
    if score == "msp":
        return 1.0 - special.softmax(z, axis=1).max(axis=1)
    return -z.max(axis=1)


@dataclasses.dataclass(frozen=True)
class OODCalibration:
    """An OOD score and its distribution on the model's validation images.

    Attributes:
        score: ``energy``, ``msp`` or ``max_logit`` (see the module).
        quantiles: The validation scores' quantiles at :data:`LEVELS` (101 values, non-decreasing).
        n: Validation images it was fitted on.
    """

    score: OODScore
    quantiles: tuple[float, ...]
    n: int

    def __post_init__(self) -> None:
        if self.score not in OOD_SCORES:
            raise ValueError(f"OOD score must be one of {', '.join(OOD_SCORES)}, got {self.score!r}")
        q = np.asarray(self.quantiles, dtype=float)
        if q.shape != LEVELS.shape or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
            raise ValueError(f"OOD quantiles must be {len(LEVELS)} non-decreasing finite numbers")
        if self.n < 1:
            raise ValueError(f"OOD calibration needs at least one validation image, got n = {self.n}")

    def threshold(self, quantile: float = DEFAULT_OOD_QUANTILE) -> float:
        """The score a fraction ``quantile`` of the validation images do not exceed.

        Raises:
            ValueError: ``quantile`` not in (0, 1].
        """
        return float(np.interp(check_quantile(quantile), LEVELS, self.quantiles))

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """This calibration's OOD scores of logits ``(N, K)``."""
        return ood_scores(logits, self.score)

    def flag(self, scores: np.ndarray, quantile: float = DEFAULT_OOD_QUANTILE) -> np.ndarray:
        """Whether each score is above :meth:`threshold` (out of distribution)."""
        return np.asarray(scores, dtype=float) > self.threshold(quantile)

    def describe(self, quantile: float = DEFAULT_OOD_QUANTILE) -> str:
        """One line, e.g. ``energy score above -3.2 (95 % of 120 validation images pass)``."""
        return (
            f"{self.score} score above {self.threshold(quantile):.4g} ({100 * quantile:g} % of {self.n} "
            "validation images pass)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (and ``torch.load(weights_only=True)``-ready) form; :meth:`from_dict` reads it."""
        return {"score": self.score, "quantiles": list(self.quantiles), "n": self.n}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> OODCalibration:
        """The calibration :meth:`to_dict` wrote.

        Raises:
            ValueError: A missing or invalid field.
        """
        try:
            return cls(str(values["score"]), tuple(float(v) for v in values["quantiles"]), int(values["n"]))  # type: ignore[arg-type]
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an OOD calibration ({type(error).__name__}: {error})") from None


def calibrate_ood(logits_val: np.ndarray, score: OODScore = DEFAULT_OOD_SCORE) -> OODCalibration | None:
    """The calibration of ``score`` on validation logits ``(N, K)``; ``None`` without validation rows.

    Raises:
        ValueError: An unknown score, or logits that are not ``(N, K)`` finite numbers.
    """
    values = ood_scores(logits_val, score)
    if not len(values):
        return None
    quantiles = np.maximum.accumulate(np.quantile(values, LEVELS))  # monotone to the last bit
    return OODCalibration(score, tuple(float(v) for v in quantiles), len(values))
