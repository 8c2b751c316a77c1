"""Load a trained classifier from whatever raycxr left behind: the shared seam of predict and export.

:func:`load_model` takes one of

* a **search experiment** folder (``raycxr.json``): its best trial (``best_config.json``) or the
  trial ``trial=ID``; the weights are the ``best_model`` (early-stopping epoch) of the trial's
  latest checkpoint ``state.pt`` (``trial_<id>/checkpoint_*/`` on the in-trial path,
  ``train/train-<id>/checkpoint_*/`` for Ray Train trials);
* a **training folder** of ``python -m raycxr.train --out`` (``best.pt``, ``metrics.json``);
* an experiment's **cross-validation folder** ``EXPERIMENT/cv`` (``cv.json``): the configuration
  the CV selected, when it is a searched trial, with its temperature and threshold (see
  :func:`_load_cv`);
* an exported **bundle** (``bundle.json``, ``python -m raycxr.export``): run by onnxruntime or
  TorchScript, without the experiment.

and gives a :class:`LoadedModel`: a module in eval mode that maps uint8 images ``(B, S, S)`` to
logits ``(B, K)`` (``(B, 1)`` for a binary single-logit model), with everything needed to use
it (classes, input size and resize filter, temperature, threshold).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from raycxr.data._io import Interpolation
from raycxr.train import TrainConfig, model_for

ModelKind = Literal["experiment", "train", "cv", "bundle"]
Runtime = Literal["pytorch", "torchscript", "onnx"]
RUNTIMES: tuple[str, ...] = ("pytorch", "torchscript", "onnx")

BUNDLE_FILE = "bundle.json"
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.ts"
#: Written by ``python -m raycxr.train``.
TRAIN_CHECKPOINT = "best.pt"
TRAIN_METRICS = "metrics.json"
#: Written by ``python -m raycxr.tune`` (names kept here so that loading a bundle never imports Ray).
EXPERIMENT_FILE = "raycxr.json"
BEST_FILE = "best_config.json"
TRIALS_FILE = "trials.csv"
SPLITS_FILE = "splits.csv"
STATE_FILE = "state.pt"
CV_RECORD = "cv.json"

EXPECTED = (
    "expected a search experiment folder (raycxr.json), a 'python -m raycxr.train --out' folder (best.pt), "
    "an experiment's cv/ folder (cv.json) or an exported bundle (bundle.json)"
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
        classes: Class names in label (output) order.
        temperature: Calibration temperature T (probabilities ``softmax(logits / T)``), or ``None``.
        threshold: Of a two-class task: the probability of ``classes[1]`` (uncalibrated) from which
            it is predicted (chosen on validation), or ``None`` (arg max).
        kind: What ``path`` was.
        path: The ``MODEL`` given.
        source: Where the weights came from, one line (trial, checkpoint file, epoch …).
        runtime: What runs ``model``.
        device: Where it runs.
        details: Provenance for ``bundle.json`` (trial id, checkpoint, the experiment's ``splits.csv`` …).
    """

    model: nn.Module
    config: TrainConfig
    classes: tuple[str, ...]
    temperature: float | None
    threshold: float | None
    kind: ModelKind
    path: Path
    source: str
    runtime: Runtime = "pytorch"
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def interpolation(self) -> Interpolation:
        return self.config.interpolation

    @property
    def binary(self) -> bool:
        """One sigmoid logit for ``classes[1]`` (``config.binary``)."""
        return self.config.binary


class OnnxModule(nn.Module):
    """An onnxruntime session as a module: uint8 ``(B, S, S)`` tensor → logits tensor.

    A model exported with a fixed batch size (COVID-Lite's CLAHE fixes it) is run in chunks of
    that size, the last one padded.
    """

    def __init__(self, path: Path, device: torch.device) -> None:
        super().__init__()
        import onnxruntime

        available = onnxruntime.get_available_providers()
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise ModelError(
                    f"{path}: --device cuda with --runtime onnx needs onnxruntime's CUDAExecutionProvider "
                    f"(pip install onnxruntime-gpu); this onnxruntime has {', '.join(available)}."
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        (entry,) = self.session.get_inputs()
        self.input_name = entry.name
        self.fixed_batch = entry.shape[0] if isinstance(entry.shape[0], int) else None
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().cpu().numpy()
        if self.fixed_batch is None:
            return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])
        size, parts = self.fixed_batch, []
        for start in range(0, len(array), size):
            chunk = array[start : start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append(self.session.run(None, {self.input_name: padded})[0][: len(chunk)])
        return torch.from_numpy(np.concatenate(parts))


def _config(values: dict[str, Any]) -> TrainConfig:
    """A stored training configuration, as the architecture's recipe: weights, data and output are not needed."""
    values = {**values, "weights": "none", "data": None, "out": None}
    return TrainConfig(**values)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: cannot read it ({type(error).__name__}: {error}).") from None


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (a corrupt file: any of pickle's, zipfile's or torch's errors)
        raise ModelError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error}).") from None


def _pytorch_model(
    cfg: TrainConfig, classes: tuple[str, ...], state: dict[str, torch.Tensor], where: Path, device: torch.device
) -> nn.Module:
    model = model_for(cfg, len(classes), weights="none")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise ModelError(f"{where}: the weights do not fit the configuration's network ({first}).") from None
    return model.to(device).eval()


def sha256_of(path: Path) -> str | None:
    """SHA-256 of a file, or ``None`` when it does not exist."""
    if not path.is_file():
        return None
    from raycxr.data import content_hash

    return content_hash(path)


# --------------------------------------------------------------------------- kinds


def model_kind(path: Path) -> tuple[ModelKind, Path]:
    """What ``path`` is and the folder to load from.

    Raises:
        ModelError: None of the kinds (the message says what was expected).
    """
    if not path.exists():
        raise ModelError(f"{path} does not exist ({EXPECTED}).")
    folder = path
    if path.is_file():
        if path.name in (TRAIN_CHECKPOINT, BUNDLE_FILE, EXPERIMENT_FILE, CV_RECORD):
            folder = path.parent
        else:
            raise ModelError(f"{path} is a file, not a model folder ({EXPECTED}).")
    if (folder / BUNDLE_FILE).is_file():
        return "bundle", folder
    if (folder / EXPERIMENT_FILE).is_file():
        return "experiment", folder
    if (folder / TRAIN_CHECKPOINT).is_file():
        return "train", folder
    if (folder / CV_RECORD).is_file() and (folder.parent / EXPERIMENT_FILE).is_file():
        return "cv", folder
    raise ModelError(f"{path} is not a model folder ({EXPECTED}).")


def load_model(
    path: str | Path,
    trial: str | None = None,
    *,
    runtime: Runtime | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Load the model ``path`` holds (see the module's documentation for the kinds).

    Args:
        path: The ``MODEL`` folder (or its ``best.pt`` / ``bundle.json``).
        trial: A search experiment's trial id (default: its best trial).
        runtime: What runs the model: ``pytorch`` (experiment, training and CV folders), ``onnx``
            or ``torchscript`` (a bundle; default ``onnx``, or ``torchscript`` when onnxruntime is
            not installed).
        device: ``auto`` (a GPU when there is one, and for ONNX when onnxruntime can use it),
            ``cpu``, ``cuda`` or a ``torch.device``.

    Raises:
        ModelError: Not a model folder, a missing or unreadable file, an unknown trial, a
            runtime the folder cannot give; one line naming the path.
    """
    path = Path(path).expanduser()
    kind, folder = model_kind(path)
    if str(device) == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"{path}: --device cuda asked for, but no GPU is visible to this process.")
    auto = str(device) == "auto"
    device = torch.device("cuda" if auto and torch.cuda.is_available() else "cpu" if auto else device)
    if trial is not None and kind != "experiment":
        raise ModelError(f"{path}: --trial applies to a search experiment folder only (this is a {kind} folder).")
    if kind == "bundle":
        return _load_bundle(path, folder, runtime, device, auto)
    if runtime not in (None, "pytorch"):
        raise ModelError(
            f"{path}: --runtime {runtime} needs an exported bundle (python -m raycxr.export); "
            f"a {kind} folder runs in PyTorch."
        )
    if kind == "train":
        return _load_train(path, folder, device)
    if kind == "experiment":
        return _load_experiment(path, folder, trial, device)
    return _load_cv(path, folder, device)


def _load_train(path: Path, folder: Path, device: torch.device) -> LoadedModel:
    checkpoint = _torch_load(folder / TRAIN_CHECKPOINT)
    if not isinstance(checkpoint, dict) or not {"model", "classes", "config"} <= set(checkpoint):
        raise ModelError(f"{folder / TRAIN_CHECKPOINT}: not a checkpoint of python -m raycxr.train.")
    cfg = _config(checkpoint["config"])
    classes = tuple(checkpoint["classes"])
    threshold = None
    metrics_file = folder / TRAIN_METRICS
    metrics = _read_json(metrics_file) if metrics_file.is_file() else {}
    if len(classes) == 2:  # chosen on validation (Youden's J) by fit
        threshold = (metrics.get("val") or {}).get("threshold")
    model = _pytorch_model(cfg, classes, checkpoint["model"], folder / TRAIN_CHECKPOINT, device)
    epoch = checkpoint.get("epoch")
    return LoadedModel(
        model=model,
        config=cfg,
        classes=classes,
        temperature=None,
        threshold=None if threshold is None else float(threshold),
        kind="train",
        path=path,
        source=f"training run {folder} ({TRAIN_CHECKPOINT}, epoch {epoch})",
        device=device,
        details={"folder": str(folder.resolve()), "checkpoint": TRAIN_CHECKPOINT, "epoch": epoch,
                 "weights": checkpoint["config"].get("weights")},
    )  # fmt: skip


def latest_state(experiment: Path, trial_id: str) -> Path | None:
    """The trial's latest checkpoint ``state.pt`` (either execution path), or ``None``."""
    found = sorted(experiment.glob(f"trial_{trial_id}/checkpoint_*/{STATE_FILE}")) or sorted(
        experiment.glob(f"train/train-{trial_id}/checkpoint_*/{STATE_FILE}")
    )
    return found[-1] if found else None


def _trial_config(record: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """The full training configuration of a trial with ``params``, as the search built it."""
    from raycxr.tune import TrialConfigs, TuneSettings
    from raycxr.tune._search import _resolve_space  # the stored space and the search's base settings

    space, base = _resolve_space(TuneSettings(**record["settings"]), record)
    return TrialConfigs(space, base).train_config(params)


def experiment_classes(folder: Path, record: dict[str, Any], cfg: TrainConfig) -> tuple[str, ...]:
    """The class names of an experiment in label order.

    From ``splits.csv`` (the task's classes of every image): sorted by name (as the dataset
    index sorts them), or in ``classes`` order. A ``class_map`` task orders its merged classes
    by the dataset's original ones, so it reads the dataset's index (its folder must exist).

    Raises:
        ModelError: No ``splits.csv``, or a ``class_map`` task whose dataset is gone.
    """
    splits = folder / SPLITS_FILE
    if not splits.is_file():
        raise ModelError(f"{folder}: no {SPLITS_FILE}, so the class names are unknown (an older raycxr's experiment).")
    names = sorted(set(pd.read_csv(splits, usecols=["class"], dtype=str, keep_default_na=False)["class"]))
    if cfg.class_map:
        from raycxr.train import task_index
        from raycxr.tune import TuneSettings, demo_data

        settings = TuneSettings(**record["settings"])
        data = settings.data if settings.data is not None else demo_data(settings)
        if not Path(data).exists():
            raise ModelError(
                f"{folder}: the task merges classes (class_map), whose label order comes from the dataset "
                f"{data}, which no longer exists."
            )
        return task_index(cfg.model_copy(update={"data": Path(data)})).classes
    if cfg.classes:
        by_name = {n.lower(): n for n in names}
        return tuple(by_name.get(c.lower(), c) for c in cfg.classes)
    return tuple(names)


def _load_experiment(path: Path, folder: Path, trial: str | None, device: torch.device) -> LoadedModel:
    record = _read_json(folder / EXPERIMENT_FILE)
    if trial is None:
        best_file = folder / BEST_FILE
        if not best_file.is_file():
            raise ModelError(
                f"{path}: no {BEST_FILE} (the search has no finished trial yet); name one with --trial ID."
            )
        best = _read_json(best_file)
        trial, params = str(best["trial_id"]), best["params"]
        how = "best trial"
    else:
        trials_file = folder / TRIALS_FILE
        trials = pd.read_csv(trials_file, dtype={"trial_id": str}) if trials_file.is_file() else pd.DataFrame()
        row = trials[trials["trial_id"] == trial] if len(trials) else trials
        if not len(row):
            known = ", ".join(trials["trial_id"].head(5)) if len(trials) else "none"
            more = " …" if len(trials) > 5 else ""
            raise ModelError(f"{path}: no trial {trial!r} in {TRIALS_FILE} (trials: {known}{more}).")
        from raycxr.tune import trial_params

        params = trial_params(row.iloc[0])
        how = "trial"
    try:
        cfg = _trial_config(record, params)
        classes = experiment_classes(folder, record, cfg)
    except ModelError:
        raise
    except (ValueError, KeyError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{path}: cannot rebuild trial {trial}'s training configuration ({first}).") from None
    state_file = latest_state(folder, trial)
    if state_file is None:
        raise ModelError(
            f"{path}: no checkpoint of trial {trial} (looked for trial_{trial}/checkpoint_*/{STATE_FILE} and "
            f"train/train-{trial}/checkpoint_*/{STATE_FILE})."
        )
    state = _torch_load(state_file)
    if not isinstance(state, dict) or "best_model" not in state:
        raise ModelError(f"{state_file}: not a raycxr training state (no 'best_model').")
    model = _pytorch_model(cfg, classes, state["best_model"], state_file, device)
    relative = state_file.relative_to(folder).as_posix()
    return LoadedModel(
        model=model,
        config=cfg,
        classes=classes,
        temperature=None,
        threshold=None,
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


def _load_cv(path: Path, folder: Path, device: torch.device) -> LoadedModel:
    """The configuration an experiment's CV selected, with the temperature and threshold of its refit.

    The CV keeps no weights (its runs' last checkpoints hold predictions only), so the weights are
    the search trial's of the same configuration (``top<k>-<trial id>``). The refit trained that
    configuration on the same rows with the same seed; its temperature (``test_calibration.csv``)
    and threshold (its ``metrics.json``, fitted on the validation slice) apply to the trial's
    weights only if both trainings were the same, which is checked: the refit's per-epoch
    validation losses must equal the trial's (to 1e-6). Otherwise, or when the CV selected a
    baseline (no search trial has its weights), it is an error.
    """
    experiment = folder.parent
    summary_file = folder / "summary.csv"
    if not summary_file.is_file():
        raise ModelError(f"{path}: no summary.csv (the cross-validation has not finished).")
    summary = pd.read_csv(summary_file)
    f1 = summary[(summary["set"] == "test") & (summary["metric"] == "f1_macro")].set_index("config")["mean"]
    if not len(f1):
        raise ModelError(f"{path}: summary.csv has no CV macro-F1 to select a configuration by.")
    selected = str(f1.idxmax())
    if not selected.startswith("top") or "-" not in selected:
        raise ModelError(
            f"{path}: the CV selected {selected!r}, a baseline trained only inside the CV, whose weights are not "
            "kept; load the experiment folder (its best trial) or a --trial instead."
        )
    trial = selected.split("-", 1)[1]
    loaded = _load_experiment(experiment, experiment, trial, device)
    refit = _refit_files(folder, selected)
    if refit is None:
        raise ModelError(f"{path}: no finished refit of {selected} (the CV kept no test set?).")
    state = _torch_load(experiment / loaded.details["checkpoint"])
    trial_losses = [row["val_loss"] for row in state["history"]]
    refit_losses = [row["val_loss"] for row in refit["history"]]
    if len(trial_losses) != len(refit_losses) or not np.allclose(trial_losses, refit_losses, rtol=0, atol=1e-6):
        raise ModelError(
            f"{path}: the refit of {selected} did not reproduce trial {trial} (validation losses differ: a GPU "
            "without deterministic=true, or a trial stopped early by the scheduler), so its temperature does not "
            "apply to the trial's weights; load the experiment folder instead."
        )
    calibration_file = folder / "test_calibration.csv"
    calibration = pd.read_csv(calibration_file).set_index("config") if calibration_file.is_file() else None
    if calibration is None or selected not in calibration.index:
        raise ModelError(f"{path}: no temperature of {selected} in test_calibration.csv (the report was not written).")
    temperature = float(calibration.loc[selected, "temperature"])
    threshold = refit["test"].get("threshold") if len(loaded.classes) == 2 else None
    loaded.path, loaded.kind = path, "cv"
    loaded.temperature = temperature
    loaded.threshold = None if threshold is None else float(threshold)
    loaded.source = f"CV-selected {selected} of {folder}: " + loaded.source
    loaded.details |= {"cv_selected": selected, "cv_folder": str(folder.resolve())}
    return loaded


def _refit_files(cv: Path, config: str) -> dict[str, Any] | None:
    """The ``metrics.json`` of the refit run of ``config`` (either execution path), or ``None``."""
    for run in sorted(cv.glob(f"{config}_refit_*")):
        trial_id = run.name.rsplit("_", 1)[-1]
        found = sorted(run.glob("checkpoint_*/metrics.json")) or sorted(
            cv.glob(f"train/train-{trial_id}/checkpoint_*/metrics.json")
        )
        if found:
            return _read_json(found[-1])
    return None


def _onnx_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _load_bundle(
    path: Path, folder: Path, runtime: Runtime | None, device: torch.device, auto: bool = False
) -> LoadedModel:
    bundle = _read_json(folder / BUNDLE_FILE)
    try:
        cfg = _config(bundle["train_config"])
        classes = tuple(bundle["classes"])
        files = bundle["files"]
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{folder / BUNDLE_FILE}: not a raycxr bundle ({type(error).__name__}: {error}).") from None
    if runtime is None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            runtime = "torchscript"
        else:
            runtime = "onnx" if files.get("onnx") else "torchscript"
    if runtime == "pytorch":
        raise ModelError(f"{path}: a bundle runs with --runtime onnx or torchscript, not pytorch.")
    name = files.get(runtime)
    if not name:
        reason = bundle.get("torchscript_error") if runtime == "torchscript" else None
        why = f" ({reason})" if reason else ""
        raise ModelError(f"{path}: the bundle has no {runtime} model{why}; use the other runtime.")
    model_file = folder / name
    if not model_file.is_file():
        raise ModelError(f"{path}: {name} is missing from the bundle.")
    if runtime == "onnx":
        if auto and device.type == "cuda" and not _onnx_cuda():
            device = torch.device("cpu")  # this onnxruntime has no CUDA provider: 'auto' means the CPU
        model: nn.Module = OnnxModule(model_file, device)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated (it still works)
                model = torch.jit.load(str(model_file), map_location=device).eval()
        except Exception as error:  # noqa: BLE001  (torch.jit raises several unrelated types for a bad file)
            raise ModelError(f"{model_file}: cannot load the TorchScript model ({type(error).__name__}).") from None
    temperature, threshold = bundle.get("temperature"), bundle.get("threshold")
    return LoadedModel(
        model=model,
        config=cfg,
        classes=classes,
        temperature=None if temperature is None else float(temperature),
        threshold=None if threshold is None else float(threshold),
        kind="bundle",
        path=path,
        source=f"bundle {folder} ({name}, {runtime}; exported from {bundle.get('source', {}).get('description', '?')})",
        runtime=runtime,
        device=device,
        details={"bundle": bundle},
    )
