"""A loaded model and what every kind of MODEL shares: its errors, configuration, weights and decision rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from raycxr.data import LEGACY_RESIZE, Interpolation, Resize
from raycxr.evaluation import DecisionRule
from raycxr.experiment import read_json
from raycxr.train import TrainConfig, model_for

ModelKind = Literal["experiment", "train", "cv", "bundle"]
Runtime = Literal["pytorch", "torchscript", "onnx"]
RUNTIMES: tuple[str, ...] = ("pytorch", "torchscript", "onnx")

EXPECTED = (
    "expected a search experiment folder (raycxr.json), a 'python -m raycxr.train --out' folder (best.pt), "
    "an experiment's cv/ folder (selection.json) or an exported bundle (bundle.json)"
)


class ModelError(ValueError):
    """``MODEL`` is not something a model can be loaded from; the message is one line naming the path."""


@dataclasses.dataclass
class LoadedModel:
    """A trained classifier ready to predict.

    Attributes:
        model: In eval mode, on ``device``: uint8 images ``(B, S, S)`` → float logits ``(B, K)``
            (``(B, 1)``: one logit of a binary model). A :class:`~raycxr.models.FreezeNet`, a
            TorchScript module or an :class:`OnnxModule`.
        config: The training configuration (architecture, input size, normalisation, task).
        rule: How its probabilities become a class (decided on validation), with its temperature.
        kind: What ``path`` was.
        path: The ``MODEL`` given.
        source: Where the weights came from, one line (trial, checkpoint file, epoch …).
        runtime: What runs ``model``.
        device: Where it runs.
        details: Provenance for ``bundle.json`` (trial id, checkpoint, the experiment's ``splits.csv`` …).
    """

    model: nn.Module
    config: TrainConfig
    rule: DecisionRule
    kind: ModelKind
    path: Path
    source: str
    runtime: Runtime = "pytorch"
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in label (output) order."""
        return self.rule.classes

    @property
    def temperature(self) -> float | None:
        """Calibration temperature T (probabilities ``softmax(logits / T)``), or ``None``."""
        return self.rule.temperature

    @property
    def threshold(self) -> float | None:
        """Of a two-class rule: the uncalibrated probability of ``classes[1]`` from which it is predicted."""
        return self.rule.threshold

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def interpolation(self) -> Interpolation:
        return self.config.interpolation

    @property
    def resize(self) -> Resize:
        """How a non-square image becomes the square input, as the model was trained."""
        return self.config.resize

    @property
    def binary(self) -> bool:
        """One sigmoid logit for ``classes[1]`` (``config.binary``)."""
        return self.config.binary

    @property
    def multilabel(self) -> bool:
        """A multi-label model: one sigmoid logit per label, its rule's per-label thresholds (rule ``thresholds``)."""
        return self.rule.multilabel


def stored_config(values: dict[str, Any]) -> TrainConfig:
    """A stored training configuration, as the architecture's recipe: weights, data and output are not needed.

    One recorded before the ``resize`` setting existed was trained on stretched images, and is read so.
    """
    values = {"resize": LEGACY_RESIZE, **values, "weights": "none", "data": None, "out": None}
    return TrainConfig(**values)


def read_json_file(path: Path) -> Any:
    try:
        return read_json(path)
    except ValueError as error:
        raise ModelError(str(error)) from None


def torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (a corrupt file: any of pickle's, zipfile's or torch's errors)
        raise ModelError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error}).") from None


def pytorch_model(
    cfg: TrainConfig, classes: tuple[str, ...], state: dict[str, torch.Tensor], where: Path, device: torch.device
) -> nn.Module:
    model = model_for(cfg, len(classes), weights="none")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise ModelError(f"{where}: the weights do not fit the configuration's network ({first}).") from None
    return model.to(device).eval()


def stored_rule(
    values: dict[str, Any] | None, classes: tuple[str, ...], where: Path, rescore: str, multilabel: bool = False
) -> DecisionRule:
    """The decision rule stored with a model's weights.

    A checkpoint of an older raycxr has none. For more than two classes its rule was the arg max
    without a temperature, and it is read as such (the documented migration). A two-class model's
    threshold was chosen on validation and cannot be recovered from the weights alone: an error
    saying how to re-score it. A multi-label model (``multilabel``: its record says so) needs its
    stored per-label thresholds (rule ``thresholds``), which nothing else can stand in for.
    """
    if values:
        try:
            rule = DecisionRule.from_dict(values)
        except ValueError as error:
            raise ModelError(f"{where}: {error}.") from None
        if rule.classes != classes:
            raise ModelError(f"{where}: the decision rule is for classes {rule.classes}, the model's are {classes}.")
        if multilabel and not rule.multilabel:
            raise ModelError(
                f"{where}: a multi-label model needs the per-label thresholds rule, got rule {rule.rule!r}."
            )
        return rule
    if multilabel:
        raise ModelError(f"{where}: no decision rule (per-label thresholds) is stored with these multi-label weights; "
                         f"re-score it: {rescore}.")  # fmt: skip
    if len(classes) > 2:
        return DecisionRule(classes)
    raise ModelError(
        f"{where}: no decision rule is stored with these two-class weights (made by an older raycxr, which did not "
        f"keep the validation threshold); re-score it: {rescore}."
    )
