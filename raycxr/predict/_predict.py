"""Predict class probabilities of image files with a :class:`LoadedModel`: find, decode, batch, run.

Images are decoded exactly as training decoded them (:func:`raycxr.data.read_image` at the
model's input size, resize filter and resize policy), one at a time in the calling thread (so that a DICOM
``ModalityWarning`` is caught per file), and run in batches. A file that cannot be read is
reported and skipped; the others are predicted.

Every prediction is also checked for being **out of distribution** (not like the chest
radiographs the model was validated on): by the model's OOD score, flagged above the threshold
calibrated on its validation images (``ood_quantile``; see :mod:`raycxr.evaluation`), and by
checks of the file itself (:func:`input_reasons`: DICOM modality and body part, colour, aspect
ratio). The score is the Mahalanobis distance of the penultimate features
(:class:`~raycxr.evaluation.FeatureOOD`) when the rule carries it and the model is the PyTorch
network (the same forward pass gives the features and the logits). It **falls back** to the
rule's logit score (energy, :class:`~raycxr.evaluation.OODCalibration`) for an exported bundle
(ONNX / TorchScript give logits only) and for a rule without the feature score (a record of an
older raycxr, a checkpoint of an epoch that stored none); the header line says which is used. A
model stored without any OOD calibration gets the logit score but no flag from it; the file
checks still apply.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from raycxr.data import IMAGE_SUFFIXES, ModalityWarning, Resize, is_dicom, read_image
from raycxr.evaluation import (
    DEFAULT_OOD_QUANTILE,
    DEFAULT_OOD_SCORE,
    FEATURE_SCORE,
    FeatureOOD,
    check_quantile,
)
from raycxr.losses import as_class_logits
from raycxr.predict._bundle import OnnxModule
from raycxr.predict._inputs import input_reasons
from raycxr.predict._model import LoadedModel
from raycxr.predict._tta import augmented_views, check_tta

Report = Callable[[str], None]


@dataclasses.dataclass
class Predictions:
    """What :func:`predict_files` gives.

    Attributes:
        files: The files predicted, in input order (failures left out).
        probabilities: ``(len(files), K)`` class probabilities, calibrated with the model's
            temperature when it has one; a multi-label model's ``(len(files), L)`` per-label sigmoids.
        predicted: Index of the predicted class of each file; a multi-label model's ``(len(files), L)``
            0/1 table (each label's validation-chosen threshold).
        classes: Class names (a multi-label model's label names).
        failures: File → reason, for the files that could not be read.
        warnings: Warning messages (DICOM Modality other than CR/DX), each naming its file.
        ood: Whether each file is flagged out of distribution (by its OOD score or a file check).
        ood_score: The model's OOD score of each file (higher: less like its validation images).
        ood_reason: Why each flagged file is flagged (``""`` when it is not), e.g.
            ``modality US; energy score 3.1 > 1.2``.
        ood_rule: How the score was judged, one line (or why it was not: no calibration stored).
        ood_calibrated: Whether the model carries an OOD calibration (else only the file checks flag).
        multilabel: Whether the model is multi-label (see :meth:`frame`).
    """

    files: list[str]
    probabilities: np.ndarray
    predicted: np.ndarray
    classes: tuple[str, ...]
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    ood: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=bool))
    ood_score: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    ood_reason: list[str] = dataclasses.field(default_factory=list)
    ood_rule: str = ""
    ood_calibrated: bool = False
    multilabel: bool = False

    def frame(self) -> pd.DataFrame:
        """``file``, ``p_<class>`` per class, ``predicted`` (the class name), ``ood``, ``ood_score``, ``ood_reason``.

        A multi-label model's: ``file``, ``p_<label>`` per label (its sigmoid), ``<label>`` per label (0/1 by
        the label's threshold), ``findings`` (the positive labels joined by ``|``, ``""`` when none), then
        the OOD columns.
        """
        table = pd.DataFrame({"file": self.files})
        for k, name in enumerate(self.classes):
            table[probability_column(name)] = self.probabilities[:, k] if len(self.files) else []
        if self.multilabel:
            for k, name in enumerate(self.classes):
                table[name] = self.predicted[:, k].astype(np.int64) if len(self.files) else []
            table["findings"] = self.findings()
        else:
            table["predicted"] = [self.classes[k] for k in self.predicted]
        if len(self.ood) == len(self.files):
            table["ood"] = self.ood.astype(bool)
            table["ood_score"] = self.ood_score
            table["ood_reason"] = self.ood_reason
        return table

    def findings(self) -> list[str]:
        """A multi-label model's positive labels of each file, joined by ``|`` (``""``: none)."""
        return ["|".join(name for name, on in zip(self.classes, row) if on) for row in self.predicted]

    def summary(self) -> str:
        """One line: how many images, how many per predicted class (multi-label: per positive label, and how many
        have none), how many out of distribution, how many failed."""
        if self.multilabel:
            counts = self.predicted.sum(axis=0) if len(self.files) else np.zeros(len(self.classes), dtype=int)
            none = int(np.sum(~self.predicted.any(axis=1))) if len(self.files) else 0
            per_class = ", ".join(f"{name} {int(n)}" for name, n in zip(self.classes, counts))
            per_class = f"positive {per_class}; no finding {none}"
        else:
            counts = np.bincount(self.predicted, minlength=len(self.classes))
            per_class = ", ".join(f"{name} {int(n)}" for name, n in zip(self.classes, counts))
        line = f"{len(self.files)} image(s) predicted: {per_class}"
        if len(self.ood) == len(self.files):
            line += f"; {int(np.sum(self.ood))} flagged out of distribution"
            if not self.ood_calibrated:
                line += " (by file checks only: the OOD score is uncalibrated)"
        if self.failures:
            line += f"; {len(self.failures)} could not be read"
        if self.warnings:
            line += f"; {len(self.warnings)} warning(s)"
        return line


def probability_column(name: str) -> str:
    """The CSV column of a class's probability."""
    return f"p_{name}"


def _is_image(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:  # PACS exports often have no suffix: DICOM by its 'DICM' marker
        return is_dicom(path)
    except OSError:
        return False


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """The image files of ``paths``: files as given, folders searched recursively (sorted).

    In folders, a file is an image when its suffix is one of PNG/JPEG/DICOM's, or when it has
    no suffix and :func:`raycxr.data.is_dicom` recognises it. A path that does not exist is
    kept: reading it fails and is reported like any unreadable file. Duplicates are dropped.
    """
    found: dict[Path, None] = {}
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and _is_image(p)):
                found.setdefault(file)
        else:
            found.setdefault(path)
    return list(found)


def decode(
    path: Path, size: int, interpolation: str, on_warning: Report | None = None, *, resize: Resize
) -> tuple[np.ndarray | None, str | None, list[str]]:
    """``(image, None, warnings)`` or ``(None, reason, warnings)`` for one file.

    ``size``, ``interpolation`` and ``resize`` are the model's (``LoadedModel.image_size`` …).

    A ``ModalityWarning`` becomes a message (it names the file); other warnings are re-issued.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = read_image(path, size, interpolation, resize)
            reason = None
        except (OSError, ValueError) as error:
            image, reason = None, " ".join(str(error).split()) or type(error).__name__
            if not reason.startswith(str(path)):
                reason = f"{path}: {reason}"
    for item in caught:
        if issubclass(item.category, ModalityWarning):
            notes.append(str(item.message))
            if on_warning is not None:
                on_warning(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return image, reason, notes


def class_probabilities(
    logits: torch.Tensor, temperature: float | None = None, multilabel: bool = False
) -> torch.Tensor:
    """``softmax(logits / T)`` (``T`` = 1 without a temperature); one logit z as ``[0, z]``.

    ``multilabel``: each label's ``sigmoid(logit)`` (a multi-label model has no temperature).
    """
    if multilabel:
        return torch.sigmoid(logits.float())
    z = as_class_logits(logits.float())
    return torch.softmax(z if temperature is None else z / temperature, dim=1)


@torch.inference_mode()
def run_model(loaded: LoadedModel, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Logits of one batch of uint8 images ``(B, S, S)`` (float32, on the CPU)."""
    batch = torch.as_tensor(images)
    if loaded.device.type == "cuda" and loaded.runtime != "onnx":  # onnxruntime takes host arrays
        batch = batch.pin_memory().to(loaded.device, non_blocking=True)
    return loaded.model(batch).float().cpu()


def gives_features(model: torch.nn.Module) -> bool:
    """Whether ``model`` has ``logits_and_features`` (a FreezeNet; a bundle exported with its feature layer)."""
    if isinstance(model, OnnxModule):
        return model.gives_features
    return callable(getattr(model, "logits_and_features", None))


def feature_score(loaded: LoadedModel) -> FeatureOOD | None:
    """The model's feature OOD score when predict can compute it: stored, and the model gives its features."""
    return loaded.rule.features if gives_features(loaded.model) else None


@torch.inference_mode()
def run_model_features(
    loaded: LoadedModel, images: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of one batch (as :func:`run_model`) and, when :func:`feature_score` applies, its penultimate
    features ``(B, D)`` from the same forward pass (``logits_and_features``: the network's eval forward)."""
    if feature_score(loaded) is None:
        return run_model(loaded, images), None
    batch = torch.as_tensor(images)
    if loaded.device.type == "cuda" and loaded.runtime != "onnx":  # onnxruntime takes host arrays
        batch = batch.pin_memory().to(loaded.device, non_blocking=True)
    logits, features = loaded.model.logits_and_features(batch)  # type: ignore[operator]
    return logits.float().cpu(), features.float().cpu()


def predict_arrays(loaded: LoadedModel, images: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, probabilities)`` of uint8 images ``(N, S, S)`` already decoded at the model's size."""
    logits = [run_model(loaded, images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    z = torch.cat(logits) if logits else torch.zeros(0, 1 if loaded.binary else len(loaded.classes))
    return z.numpy(), class_probabilities(z, loaded.temperature, loaded.multilabel).numpy()


def predict_files(
    loaded: LoadedModel,
    files: Sequence[str | Path],
    batch_size: int = 32,
    *,
    progress: bool | None = None,
    on_failure: Report | None = None,
    on_warning: Report | None = None,
    on_batch: Callable[[list[str], np.ndarray, torch.Tensor], None] | None = None,
    ood_quantile: float = DEFAULT_OOD_QUANTILE,
    tta: int = 0,
) -> Predictions:
    """Decode and predict ``files``; unreadable files are reported and left out.

    Args:
        loaded: The model.
        files: Image files (see :func:`find_images` for folders).
        batch_size: Images per forward pass.
        progress: Show a tqdm bar on stderr (default: when stderr is a terminal and there is
            more than one batch).
        on_failure: Called with the reason (naming the file) of each unreadable file, as it happens.
        on_warning: Called with each warning message (naming the file), as it happens.
        on_batch: Called with each batch's files, decoded images and logits (e.g.
            :func:`saliency_writer`), so nothing is decoded twice.
        ood_quantile: How strict the OOD flag is: a file is flagged when its OOD score is above
            the score that this fraction of the model's validation images do not exceed.
        tta: Test-time augmentation: each image's logits are the mean over it and this many
            augmented views (:mod:`raycxr.predict._tta`); 0 (default): none.

    Raises:
        ValueError: ``ood_quantile`` not in (0, 1], ``tta`` not in [0, 32] (one line).

    The predicted class is the model's decision rule applied to the uncalibrated probabilities
    (the arg max, which a temperature does not change, or a two-class threshold chosen on
    uncalibrated validation probabilities): the same rule the model's test table used. A
    multi-label model's probabilities are per-label sigmoids and its predictions the 0/1 table
    of its per-label validation thresholds.
    """
    from tqdm import tqdm

    ood_quantile = check_quantile(ood_quantile)
    tta = check_tta(tta)
    if progress is None:
        progress = sys.stderr.isatty() and len(files) > batch_size
    size, interpolation = loaded.image_size, loaded.interpolation
    done: list[str] = []
    logits: list[torch.Tensor] = []
    features: list[torch.Tensor] = []
    failures: dict[str, str] = {}
    notes: list[str] = []
    pending: list[np.ndarray] = []
    names: list[str] = []
    reasons: list[list[str]] = []

    def flush() -> None:
        if pending:
            batch = np.stack(pending)
            z, f = run_model_features(loaded, batch)
            if tta:
                z = torch.stack([z, *(run_model(loaded, view) for view in augmented_views(batch, tta))]).mean(0)
            logits.append(z)
            if f is not None:
                features.append(f)
            if on_batch is not None:
                on_batch(list(names), batch, logits[-1])
            done.extend(names)
            pending.clear()
            names.clear()

    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr) as bar:
        for file in files:
            image, reason, found = decode(Path(file), size, interpolation, on_warning, resize=loaded.resize)
            notes += found
            if image is None:
                failures[str(file)] = reason or "unreadable"
                if on_failure is not None:
                    on_failure(failures[str(file)])
            else:
                pending.append(image)
                names.append(str(file))
                reasons.append(input_reasons(file))
                if len(pending) == batch_size:
                    flush()
            bar.update(1)
        flush()
    width = 1 if loaded.binary else len(loaded.classes)
    z = torch.cat(logits) if logits else torch.zeros(0, width)
    calibrated = class_probabilities(z, loaded.temperature, loaded.multilabel).numpy()
    raw = calibrated if loaded.temperature is None else class_probabilities(z).numpy()
    embedded = torch.cat(features).numpy() if features else None
    flagged, score, why, rule = ood_flags(loaded, z.numpy(), reasons, ood_quantile, embedded)
    calibrated_ood = loaded.rule.ood is not None or feature_score(loaded) is not None
    return Predictions(
        done, calibrated, loaded.rule.predict(raw), loaded.classes, failures, notes,
        flagged, score, why, rule, calibrated_ood, loaded.multilabel,
    )  # fmt: skip


def ood_flags(
    loaded: LoadedModel,
    logits: np.ndarray,
    reasons: Sequence[Sequence[str]],
    quantile: float = DEFAULT_OOD_QUANTILE,
    features: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """``(flagged, scores, reasons, rule)`` of images with these logits and file-check reasons.

    The score is the feature (Mahalanobis) score when the model carries it and ``features``
    (the images' penultimate features, :func:`run_model_features`) are given; else the rule's
    logit score (:data:`raycxr.evaluation.DEFAULT_OOD_SCORE` without a calibration). A file is
    flagged by any file-check reason or, with a calibration, by a score above the threshold at
    ``quantile``.
    """
    verdict = loaded.rule.ood_verdict(logits, features if feature_score(loaded) is not None else None, quantile)
    why = [list(r) for r in reasons]
    for i in np.flatnonzero(verdict.flagged):
        why[i].append(f"{verdict.kind} score {verdict.scores[i]:.4g} > {verdict.threshold:.4g}")
    flagged = np.array([bool(r) for r in why], dtype=bool)
    return flagged, verdict.scores, ["; ".join(r) for r in why], ood_description(loaded, quantile)


def ood_description(loaded: LoadedModel, quantile: float = DEFAULT_OOD_QUANTILE) -> str:
    """How the model's OOD score is judged, one line (or that it cannot be, and how to get a calibration)."""
    feature = feature_score(loaded)
    if feature is not None:
        return feature.describe(quantile)
    if loaded.rule.features is not None:
        ood = loaded.rule.ood
        fallback = ood.describe(quantile) if ood is not None else f"uncalibrated {DEFAULT_OOD_SCORE} score, not flagged"
        return (
            f"{fallback} (the logit score: this {loaded.runtime} model gives no features for the stored "
            f"{FEATURE_SCORE} score; export it again, or predict from the experiment or train folder, to use it)"
        )
    if loaded.rule.ood is not None:
        return f"{loaded.rule.ood.describe(quantile)} (the logit score: the model stores no {FEATURE_SCORE} score)"
    return (
        f"uncalibrated {DEFAULT_OOD_SCORE} score, not flagged (the model was stored by an older raycxr without an "
        "OOD calibration; train it, run the CV or export it again to get one)"
    )


def saliency_writer(loaded: LoadedModel, out: str | Path) -> Callable[[list[str], np.ndarray, torch.Tensor], None]:
    """An ``on_batch`` for :func:`predict_files`: a Grad-CAM overlay (pytorch-grad-cam) of each image's
    predicted class, one PNG per file in ``out``.

    A multi-label model: one overlay per predicted-positive label of each image, ``<file stem>_<label>.png``
    (the highest-probability label's when none is positive), so that each finding's evidence is shown apart.

    Raises:
        ValueError: The model is not a PyTorch network (a bundle run by onnxruntime / TorchScript).
    """
    from raycxr.explain import saliency_maps, write_overlays
    from raycxr.models import FreezeNet

    if not isinstance(loaded.model, FreezeNet):
        raise ValueError(
            f"--saliency needs the PyTorch network; {loaded.source} runs on {loaded.runtime}: give the experiment "
            "or train folder instead of the bundle."
        )

    def write(files: list[str], images: np.ndarray, logits: torch.Tensor) -> None:
        if loaded.multilabel:
            rows, targets = saliency_targets(loaded, logits)
            names = [f"{Path(files[i]).stem}_{loaded.classes[t]}" for i, t in zip(rows, targets)]
            maps = saliency_maps(loaded.model, images[rows], targets)
            write_overlays(out, names, images[rows], maps)
            return
        targets = loaded.rule.predict(class_probabilities(logits).numpy())
        maps = saliency_maps(loaded.model, images, [int(t) for t in targets])
        write_overlays(out, [Path(f).stem for f in files], images, maps)

    return write


def saliency_targets(loaded: LoadedModel, logits: torch.Tensor) -> tuple[np.ndarray, list[int]]:
    """A multi-label model's Grad-CAM targets of one batch: ``(image rows, label indices)``, one pair per
    predicted-positive label, or the image's highest-probability label when none is positive."""
    proba = class_probabilities(logits, multilabel=True).numpy()
    positive = loaded.rule.predict(proba).astype(bool)
    rows: list[int] = []
    targets: list[int] = []
    for i, on in enumerate(positive):
        chosen = np.flatnonzero(on) if on.any() else [int(np.argmax(proba[i]))]
        rows += [i] * len(chosen)
        targets += [int(t) for t in chosen]
    return np.asarray(rows, dtype=np.int64), targets
