"""Load a trained classifier from whatever raycxr left behind: the shared seam of predict and export.

:func:`load_model` takes one of

* a **search experiment** folder (``raycxr.json``): its best trial (``best_config.json``) or the
  trial ``trial=ID``, with the training configuration the trial recorded when it started; the
  weights and decision rule are the ``best_model`` / ``best_rule`` (early-stopping epoch) of the
  trial's latest checkpoint ``state.pt``;
* a **training folder** of ``python -m raycxr.train --out`` (``best.pt``, ``metrics.json``);
* an experiment's **cross-validation folder** ``EXPERIMENT/cv`` (``selection.json``): the refit
  of the configuration the CV selected (or ``config=NAME``) — the very weights and decision rule
  the report's test table scored;
* an exported **bundle** (``bundle.json``, ``python -m raycxr.export``): run by onnxruntime or
  TorchScript, without the experiment.

and gives a :class:`LoadedModel`: a module in eval mode that maps uint8 images ``(B, S, S)`` to
logits ``(B, K)`` (``(B, 1)`` for a binary single-logit model; ``(B, L)``, one per label, for a
multi-label model), with everything needed to use it: classes, input size and resize filter, and
its :class:`~raycxr.evaluation.DecisionRule` (temperature, threshold; a multi-label model's
per-label thresholds), which every kind of MODEL carries. A multi-label model is one whose record
says so (``multilabel: true`` in ``raycxr.json``, a CV refit's ``refit.json`` or ``bundle.json``)
and whose stored rule is ``thresholds``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from raycxr.experiment import (
    BEST_FILE,
    BUNDLE_FILE,
    CV_RECORD,
    EXPERIMENT_FILE,
    SELECTION_FILE,
    SPLITS_FILE,
    STATE_FILE,
    TRAIN_CHECKPOINT,
    TRIALS_FILE,
    CVFolder,
    Experiment,
    read_record,
    read_selection,
    read_trials,
    refit_files,
    trial_config,
    trial_params,
)
from raycxr.predict._bundle import load_bundle
from raycxr.predict._model import (
    EXPECTED,
    LoadedModel,
    ModelError,
    ModelKind,
    Runtime,
    pytorch_model,
    read_json_file,
    stored_config,
    stored_rule,
    torch_load,
)


def sha256_of(path: Path) -> str | None:
    """SHA-256 of a file, or ``None`` when it does not exist."""
    if not path.is_file():
        return None
    from raycxr.data import content_hash

    return content_hash(path)


def model_kind(path: Path) -> tuple[ModelKind, Path]:
    """What ``path`` is and the folder to load from.

    Raises:
        ModelError: None of the kinds (the message says what was expected).
    """
    if not path.exists():
        raise ModelError(f"{path} does not exist ({EXPECTED}).")
    folder = path
    if path.is_file():
        if path.name in (TRAIN_CHECKPOINT, BUNDLE_FILE, EXPERIMENT_FILE, CV_RECORD, SELECTION_FILE):
            folder = path.parent
        else:
            raise ModelError(f"{path} is a file, not a model folder ({EXPECTED}).")
    if (folder / BUNDLE_FILE).is_file():
        return "bundle", folder
    if Experiment.is_experiment(folder):
        return "experiment", folder
    if (folder / TRAIN_CHECKPOINT).is_file():
        return "train", folder
    cv_record = (folder / CV_RECORD).is_file() or (folder / SELECTION_FILE).is_file()
    if cv_record and Experiment.is_experiment(folder.parent):
        return "cv", folder
    raise ModelError(f"{path} is not a model folder ({EXPECTED}).")


def load_model(
    path: str | Path,
    trial: str | None = None,
    *,
    config: str | None = None,
    runtime: Runtime | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Load the model ``path`` holds (see the module's documentation for the kinds).

    Args:
        path: The ``MODEL`` folder (or its ``best.pt`` / ``bundle.json``).
        trial: A search experiment's trial id (default: its best trial).
        config: A CV folder's configuration, as the report names it (default: the one the CV selected).
        runtime: What runs the model: ``pytorch`` (experiment, training and CV folders), ``onnx``
            or ``torchscript`` (a bundle; default ``onnx``, or ``torchscript`` when onnxruntime is
            not installed).
        device: ``auto`` (a GPU when there is one, and for ONNX when onnxruntime can use it),
            ``cpu``, ``cuda`` or a ``torch.device``.

    Raises:
        ModelError: Not a model folder, a missing or unreadable file, an unknown trial or
            configuration, a runtime the folder cannot give; one line naming the path.
    """
    path = Path(path).expanduser()
    kind, folder = model_kind(path)
    if str(device) == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"{path}: --device cuda asked for, but no GPU is visible to this process.")
    auto = str(device) == "auto"
    device = torch.device("cuda" if auto and torch.cuda.is_available() else "cpu" if auto else device)
    if trial is not None and kind != "experiment":
        raise ModelError(f"{path}: --trial applies to a search experiment folder only (this is a {kind} folder).")
    if config is not None and kind != "cv":
        raise ModelError(f"{path}: --config applies to an experiment's cv/ folder only (this is a {kind} folder).")
    if kind == "bundle":
        return load_bundle(path, folder, runtime, device, auto)
    if runtime not in (None, "pytorch"):
        raise ModelError(
            f"{path}: --runtime {runtime} needs an exported bundle (python -m raycxr.export); "
            f"a {kind} folder runs in PyTorch."
        )
    if kind == "train":
        return _load_train(path, folder, device)
    if kind == "experiment":
        return _load_experiment(path, folder, trial, device)
    return _load_cv(path, folder, config, device)


def _load_train(path: Path, folder: Path, device: torch.device) -> LoadedModel:
    checkpoint = torch_load(folder / TRAIN_CHECKPOINT)
    if not isinstance(checkpoint, dict) or not {"model", "classes", "config"} <= set(checkpoint):
        raise ModelError(f"{folder / TRAIN_CHECKPOINT}: not a checkpoint of python -m raycxr.train.")
    cfg = stored_config(checkpoint["config"])
    classes = tuple(checkpoint["classes"])
    rescore = f"train it again: python -m raycxr.train --out {folder}"
    rule = stored_rule(checkpoint.get("decision"), classes, folder / TRAIN_CHECKPOINT, rescore)
    model = pytorch_model(cfg, classes, checkpoint["model"], folder / TRAIN_CHECKPOINT, device)
    epoch = checkpoint.get("epoch")
    return LoadedModel(
        model=model,
        config=cfg,
        rule=rule,
        kind="train",
        path=path,
        source=f"training run {folder} ({TRAIN_CHECKPOINT}, epoch {epoch})",
        device=device,
        details={"folder": str(folder.resolve()), "checkpoint": TRAIN_CHECKPOINT, "epoch": epoch,
                 "weights": checkpoint["config"].get("weights")},
    )  # fmt: skip


def latest_state(experiment: Path, trial_id: str) -> Path | None:
    """The trial's latest checkpoint ``state.pt`` (either execution path), or ``None``."""
    return Experiment(experiment).latest_state(trial_id)


def experiment_classes(folder: Path, record: dict[str, Any]) -> tuple[str, ...]:
    """The class names of an experiment in label order, as the search recorded them.

    Raises:
        ModelError: The record has none (an experiment of an older raycxr).
    """
    if not record.get("classes"):
        raise ModelError(
            f"{folder}: {EXPERIMENT_FILE} records no classes (an experiment of an older raycxr); run the search again."
        )
    return tuple(record["classes"])


def _load_experiment(path: Path, folder: Path, trial: str | None, device: torch.device) -> LoadedModel:
    try:
        record = read_record(folder)
    except ValueError as error:
        raise ModelError(str(error)) from None
    if trial is None:
        best_file = folder / BEST_FILE
        if not best_file.is_file():
            raise ModelError(
                f"{path}: no {BEST_FILE} (the search has no finished trial yet); name one with --trial ID."
            )
        best = read_json_file(best_file)
        if "trial_id" not in best:
            raise ModelError(f"{path}: a multi-objective search has no single best trial; name one with --trial ID.")
        trial, params = str(best["trial_id"]), best["params"]
        how = "best trial"
        row = None
    else:
        trials = read_trials(folder)
        found = trials[trials["trial_id"] == trial] if len(trials) else trials
        if not len(found):
            known = ", ".join(trials["trial_id"].head(5)) if len(trials) else "none"
            more = " …" if len(trials) > 5 else ""
            raise ModelError(f"{path}: no trial {trial!r} in {TRIALS_FILE} (trials: {known}{more}).")
        row = found.iloc[0]
        params = trial_params(row)
        how = "trial"
    try:
        cfg = stored_config(trial_config(folder, trial, row))
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{path}: {first}") from None
    classes = experiment_classes(folder, record)
    state_file = latest_state(folder, trial)
    if state_file is None:
        raise ModelError(
            f"{path}: no checkpoint of trial {trial} (looked for trial_{trial}/checkpoint_*/{STATE_FILE} and "
            f"train/train-{trial}/checkpoint_*/{STATE_FILE})."
        )
    state = torch_load(state_file)
    if not isinstance(state, dict) or "best_model" not in state:
        raise ModelError(f"{state_file}: not a raycxr training state (no 'best_model').")
    rescore = "run the search again (python -m raycxr.tune)"
    rule = stored_rule(state.get("best_rule"), classes, state_file, rescore, bool(record.get("multilabel")))
    model = pytorch_model(cfg, classes, state["best_model"], state_file, device)
    relative = state_file.relative_to(folder).as_posix()
    return LoadedModel(
        model=model,
        config=cfg,
        rule=rule,
        kind="experiment",
        path=path,
        source=f"{how} {trial} of experiment {folder} ({relative}, best epoch {state.get('best_epoch')})",
        device=device,
        details={
            "folder": str(folder.resolve()),
            "trial_id": trial,
            "checkpoint": relative,
            "best_epoch": state.get("best_epoch"),
            "params": params,
            "splits_sha256": sha256_of(folder / SPLITS_FILE),
        },
    )


def _describe_test(test: dict[str, dict[str, Any]]) -> str:
    """``test macro-F1 0.91 [0.89, 0.93], accuracy …`` of a refit's record."""
    names = {"f1_macro": "macro-F1", "accuracy": "accuracy", "auc_ovr_macro": "AUC"}
    parts = []
    for key, label in names.items():
        entry = test.get(key) or {}
        value = entry.get("value")
        if value is None:
            continue
        low, high = entry.get("ci_low"), entry.get("ci_high")
        parts.append(f"{label} {value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None
                                                else ""))  # fmt: skip
    return "test " + ", ".join(parts) if parts else "no test metrics"


def _load_cv(path: Path, folder: Path, config: str | None, device: torch.device) -> LoadedModel:
    """The refit of the configuration the CV selected (or ``config``): the weights its test table scored."""
    cv = CVFolder(folder)
    try:
        selection = read_selection(cv)
        name = config if config is not None else str(selection["selected"])
        refit, weights = refit_files(cv, name)
    except ValueError as error:
        raise ModelError(f"{path}: {error}" if not str(error).startswith(str(folder)) else str(error)) from None
    if not weights.is_file():
        raise ModelError(f"{path}: the refit weights of {name!r} are missing ({weights}).")
    try:
        cfg = stored_config(refit["train_config"])
    except ValueError as error:
        raise ModelError(f"{weights.parent}: {str(error).strip().splitlines()[0]}") from None
    classes = tuple(refit["classes"])
    rescore = f"run the CV again: python -m raycxr.cv {folder.parent}"
    rule = stored_rule(refit.get("decision"), classes, weights.parent, rescore, bool(refit.get("multilabel")))
    model = pytorch_model(cfg, classes, torch_load(weights), weights, device)
    chosen = "CV-selected" if name == selection["selected"] else f"CV-evaluated (selected: {selection['selected']})"
    test = refit.get("test") or {}
    return LoadedModel(
        model=model,
        config=cfg,
        rule=rule,
        kind="cv",
        path=path,
        source=f"configuration {name} ({chosen}), refit on dev, of {folder}; {_describe_test(test)}",
        device=device,
        details={
            "folder": str(folder.parent.resolve()),
            "cv_folder": str(folder.resolve()),
            "cv_selected": selection["selected"],
            "cv_config": name,
            "checkpoint": weights.relative_to(folder).as_posix(),
            "best_epoch": refit.get("best_epoch"),
            "splits_sha256": refit.get("data_sha256"),
            "test": test,
        },
    )
