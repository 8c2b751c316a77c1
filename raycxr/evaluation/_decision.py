"""A model's decision rule: how its probabilities become a predicted class, decided once on validation.

Every consumer of a model — fit's metrics, the CV tables, the final test (bootstrap, McNemar),
``predict`` from every kind of MODEL, ``export`` — applies the rule stored with the model's
weights; nobody re-decides it. The rule is made by :func:`decide_rule` from the model's
validation probabilities when the model is scored on validation.

* ``argmax`` (any number of classes): the most probable class.
* ``youden`` (two classes): predict ``classes[1]`` when its probability reaches the threshold
  that maximises Youden's J (sensitivity + specificity − 1) on validation.
* ``specificity`` (two classes): the lowest threshold whose validation specificity reaches
  ``target``.
* ``thresholds`` (a multi-label task): one threshold per label, each maximising that label's F1
  on its known validation entries (:func:`~raycxr.evaluation.choose_thresholds`); label l is
  predicted when its sigmoid probability reaches ``thresholds[l]``. ``predict`` gives an
  ``(N, L)`` 0/1 table. No temperature (it calibrates softmax probabilities) and, so far, no
  OOD calibration is decided for it.

The **positive class** of a two-class task is ``classes[1]`` (the second class given with
``--classes``, or the second in sorted order). The **temperature** (fitted on validation by
negative log-likelihood) calibrates the reported probabilities; it never changes the
predicted class: thresholds are on the uncalibrated probabilities.

The rule also carries the model's **out-of-distribution calibration** (``ood``, an
:class:`~raycxr.evaluation.OODCalibration`): the distribution of an OOD score of the logits on
the same validation images, from which ``predict`` flags inputs unlike them. A rule decided
from probabilities alone (or stored by an older raycxr) has none.

It may also carry the **feature OOD score** (``features``, a
:class:`~raycxr.evaluation.FeatureOOD`): a Mahalanobis distance on the penultimate features,
fitted on the training images' features and calibrated on the validation images' scores (by
``raycxr.train.fit`` at every best epoch). ``predict`` uses it when it can compute the features
(a PyTorch model), and falls back to ``ood`` otherwise (an exported bundle, a rule without it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_curve

from raycxr.evaluation._calibration import apply_temperature, fit_temperature
from raycxr.evaluation._mahalanobis import FEATURE_SCORE, FeatureOOD
from raycxr.evaluation._multilabel import choose_thresholds
from raycxr.evaluation._ood import DEFAULT_OOD_QUANTILE, DEFAULT_OOD_SCORE, OODCalibration, calibrate_ood, ood_scores
from raycxr.evaluation._operating import threshold_at_specificity

RULES = ("argmax", "youden", "specificity", "thresholds")


@dataclasses.dataclass(frozen=True)
class OODVerdict:
    """A model's out-of-distribution scores of some images and the threshold they are judged by.

    Attributes:
        kind: The score (``mahalanobis``, ``energy`` …).
        scores: ``(N,)`` scores (higher: less like the model's validation images).
        threshold: Scores above it are flagged; ``None`` when the model carries no calibration
            (nothing is flagged by the score then).
    """

    kind: str
    scores: np.ndarray
    threshold: float | None

    @property
    def flagged(self) -> np.ndarray:
        """Whether each score is above the threshold (all ``False`` without one)."""
        if self.threshold is None:
            return np.zeros(len(self.scores), dtype=bool)
        return self.scores > self.threshold


Rule = Literal["argmax", "youden", "specificity", "thresholds"]


@dataclasses.dataclass(frozen=True)
class DecisionRule:
    """How a model's class probabilities become a predicted class (or, multi-label, predicted labels).

    Attributes:
        classes: Class names in label (output) order; a multi-label task's label names.
        rule: ``argmax``, ``youden``, ``specificity`` or ``thresholds`` (multi-label; see the module).
        threshold: Two-class rules: ``classes[1]`` is predicted when its uncalibrated
            probability is at least this.
        target: The validation specificity the ``specificity`` rule aimed at.
        temperature: Calibration temperature T (probabilities ``softmax(logits / T)``), or ``None``.
        ood: The out-of-distribution score's calibration on the same validation images, or ``None``.
        features: The Mahalanobis score of the penultimate features (fitted on training images,
            calibrated on the validation images), or ``None``.
        thresholds: Rule ``thresholds``: one threshold in [0, 1] per label, in label order;
            ``None`` for every other rule.
    """

    classes: tuple[str, ...]
    rule: Rule = "argmax"
    threshold: float | None = None
    target: float | None = None
    temperature: float | None = None
    ood: OODCalibration | None = None
    features: FeatureOOD | None = None
    thresholds: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"decision rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if self.rule == "thresholds":
            self._check_thresholds()
        elif self.thresholds is not None:
            raise ValueError(f"decision rule {self.rule!r} takes no per-label thresholds (rule 'thresholds' does)")
        elif self.rule != "argmax":
            if len(self.classes) != 2:
                raise ValueError(f"decision rule {self.rule!r} needs two classes, got {len(self.classes)}")
            if self.threshold is None or not 0.0 <= self.threshold <= 1.0:
                raise ValueError(f"decision rule {self.rule!r} needs a threshold in [0, 1], got {self.threshold!r}")
        t = self.temperature
        if t is not None and not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a positive finite number, got {t!r}")

    def _check_thresholds(self) -> None:
        t = self.thresholds
        n = len(self.classes)
        try:
            values = tuple(float(x) for x in t) if t is not None else None
        except (TypeError, ValueError):
            values = None
        if values is None or len(values) != n or not all(0.0 <= x <= 1.0 for x in values):
            raise ValueError(f"decision rule 'thresholds' needs {n} thresholds in [0, 1] (one per label), got {t!r}")
        object.__setattr__(self, "thresholds", values)
        if self.threshold is not None or self.target is not None:
            raise ValueError("decision rule 'thresholds' takes per-label thresholds, not threshold or target")
        if self.temperature is not None:
            raise ValueError(
                "decision rule 'thresholds' takes no temperature (it calibrates softmax probabilities; a multi-label "
                "model's are per-label sigmoids)"
            )

    @property
    def multilabel(self) -> bool:
        """Whether the rule is a multi-label task's (rule ``thresholds``)."""
        return self.rule == "thresholds"

    @property
    def positive(self) -> int | None:
        """The positive class of a two-class task (1), else ``None`` (and for a multi-label task)."""
        return 1 if len(self.classes) == 2 and not self.multilabel else None

    def predict(self, proba: np.ndarray) -> np.ndarray:
        """Predicted class indices ``(N,)`` of uncalibrated probabilities ``(N, K)``.

        Rule ``thresholds``: the ``(N, L)`` int64 0/1 table of predicted labels of per-label
        probabilities ``(N, L)``, label l where ``proba[:, l] >= thresholds[l]``.

        Raises:
            ValueError: Rule ``thresholds`` and ``proba`` has not one column per label.
        """
        proba = np.asarray(proba)
        if self.thresholds is not None:
            if proba.ndim != 2 or proba.shape[1] != len(self.thresholds):
                raise ValueError(
                    f"rule 'thresholds' needs probabilities (N, {len(self.thresholds)}), got shape {proba.shape}"
                )
            return (proba >= np.asarray(self.thresholds)).astype(np.int64)
        if self.rule == "argmax":
            return proba.argmax(axis=1)
        return (proba[:, 1] >= self.threshold).astype(np.int64)

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        """The probabilities with the temperature applied (unchanged without one)."""
        return proba if self.temperature is None else apply_temperature(proba, self.temperature)

    def ood_verdict(
        self, logits: np.ndarray, features: np.ndarray | None = None, quantile: float = DEFAULT_OOD_QUANTILE
    ) -> OODVerdict:
        """The OOD scores of images with these logits (and penultimate features), judged at ``quantile``.

        The one choice of score every consumer makes (``predict``, the CV's final test): the feature
        (Mahalanobis) score when the rule carries it and ``features`` are given, else the logit score
        the rule is calibrated with (:data:`DEFAULT_OOD_SCORE`, unjudged, without a calibration).
        """
        if self.features is not None and features is not None:
            scores = self.features.scores(features) if len(features) else np.zeros(0)
            return OODVerdict(FEATURE_SCORE, scores, self.features.threshold(quantile))
        kind = self.ood.score if self.ood is not None else DEFAULT_OOD_SCORE
        scores = ood_scores(logits, kind) if len(logits) else np.zeros(0)
        return OODVerdict(kind, scores, None if self.ood is None else self.ood.threshold(quantile))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (and ``torch.load(weights_only=True)``-ready) form; :meth:`from_dict` reads it.

        ``thresholds`` is written only by rule ``thresholds`` (a single-label rule's form is unchanged).
        """
        values = {
            "classes": list(self.classes),
            "rule": self.rule,
            "threshold": self.threshold,
            "target": self.target,
            "temperature": self.temperature,
            "ood": None if self.ood is None else self.ood.to_dict(),
            "features": None if self.features is None else self.features.to_dict(),
        }
        if self.thresholds is not None:
            values["thresholds"] = list(self.thresholds)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DecisionRule:
        """The rule :meth:`to_dict` wrote.

        Raises:
            ValueError: A missing or invalid field (named).
        """
        try:
            return cls(
                classes=tuple(str(c) for c in values["classes"]),
                rule=values["rule"],
                threshold=None if values.get("threshold") is None else float(values["threshold"]),
                target=None if values.get("target") is None else float(values["target"]),
                temperature=None if values.get("temperature") is None else float(values["temperature"]),
                ood=None if values.get("ood") is None else OODCalibration.from_dict(values["ood"]),
                features=None if values.get("features") is None else FeatureOOD.from_dict(values["features"]),
                thresholds=None if values.get("thresholds") is None else tuple(values["thresholds"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a decision rule ({type(error).__name__}: {error})") from None

    def describe(self) -> str:
        """One line, e.g. ``threshold 0.41 on P(COVID) (Youden's J on validation), temperature 1.3``.

        Rule ``thresholds``: ``per-label thresholds (max F1 on validation): Edema 0.31, Effusion 0.47``.
        """
        if self.thresholds is not None:
            shown = ", ".join(f"{c} {t:.4g}" for c, t in zip(self.classes, self.thresholds))
            return f"per-label thresholds (max F1 on validation): {shown}"
        if self.rule == "argmax":
            text = "arg max"
        else:
            how = "Youden's J" if self.rule == "youden" else f"specificity {self.target:g}"
            text = f"threshold {self.threshold:.4g} on P({self.classes[1]}) ({how} on validation)"
        if self.temperature is not None:
            text += f", temperature {self.temperature:.4g}"
        return text


def positive_class(classes: Sequence[str]) -> int:
    """The class of one-vs-rest operating points: ``classes[1]`` of a two-class task; with more
    classes the first whose name starts with "covid" (case-insensitive), else ``classes[0]``."""
    if len(classes) == 2:
        return 1
    return next((i for i, name in enumerate(classes) if name.lower().startswith("covid")), 0)


def youden_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The score threshold maximising Youden's J = sensitivity + specificity − 1 (0.5 when undefined)."""
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, score)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def default_rule(num_classes: int, multilabel: bool = False) -> Rule:
    """``youden`` for two classes, ``argmax`` otherwise; ``thresholds`` for a multi-label task (``decision: auto``)."""
    if multilabel:
        return "thresholds"
    return "youden" if num_classes == 2 else "argmax"


def decide_rule(
    y_val: np.ndarray,
    proba_val: np.ndarray,
    classes: Sequence[str],
    rule: Rule | Literal["auto"] = "auto",
    target: float = 0.9,
    calibrate: bool = True,
    logits_val: np.ndarray | None = None,
) -> DecisionRule:
    """The decision rule of a model from its (uncalibrated) validation probabilities.

    A multi-label task (``y_val`` a ``(N, L)`` label table with NaN unknown, ``proba_val`` its
    per-label probabilities) gets rule ``thresholds`` (:func:`choose_thresholds`), without a
    temperature or an OOD calibration (``calibrate`` and ``logits_val`` are not used).

    Args:
        y_val: Validation labels ``(N,)``; a multi-label task's ``(N, L)`` label table.
        proba_val: Validation probabilities ``(N, K)``; per-label probabilities ``(N, L)``.
        classes: Class names in label order.
        rule: ``auto`` (:func:`default_rule`), ``argmax``, ``youden``, ``specificity`` or
            ``thresholds`` (multi-label).
        target: The specificity the ``specificity`` rule aims at.
        calibrate: Fit a temperature too (a validation set with one class gets none).
        logits_val: The same images' logits ``(N, K)`` (``(N, 1)``: one logit of a binary model):
            the out-of-distribution score is calibrated on them (none without).

    Raises:
        ValueError: A two-class rule for another number of classes; a single-label rule for a
            label table or rule ``thresholds`` for single labels.
    """
    classes = tuple(classes)
    y = np.asarray(y_val)
    if y.ndim == 2 or rule == "thresholds":
        if y.ndim != 2:
            raise ValueError(
                f"decision rule 'thresholds' needs a multi-label table (N, L), got labels of shape {y.shape}"
            )
        if rule not in ("auto", "thresholds"):
            raise ValueError(f"a multi-label task's decision rule is 'thresholds' (or 'auto'), got {rule!r}")
        return DecisionRule(classes, "thresholds", thresholds=tuple(choose_thresholds(y, proba_val)))
    rule = default_rule(len(classes)) if rule == "auto" else rule
    threshold = None
    if rule == "youden":
        threshold = youden_threshold((y == 1).astype(int), proba_val[:, 1]) if len(classes) == 2 else None
    elif rule == "specificity":
        try:
            threshold = threshold_at_specificity((y == 1).astype(int), proba_val[:, 1], target)
        except ValueError:  # a class missing from validation: nothing to choose by
            threshold = 0.5
        threshold = float(min(max(threshold, 0.0), 1.0))
    temperature = None
    if calibrate and len(np.unique(y)) > 1:
        temperature = fit_temperature(proba_val, y)
    ood = calibrate_ood(logits_val) if logits_val is not None else None
    return DecisionRule(classes, rule, threshold, target if rule == "specificity" else None, temperature, ood)
