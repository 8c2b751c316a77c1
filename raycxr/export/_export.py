"""Export a trained model as a self-contained bundle: TorchScript, ONNX and ``bundle.json``.

The exported models take what the PyTorch model takes: **uint8** grayscale images
``(batch, S, S)`` (decoded and resized as training did: :func:`raycxr.data.read_image` at the
bundle's ``input.size``, ``input.interpolation`` and ``input.resize``); the scaling to [0, 1] and the
normalisation are inside the model (its first layer). They give float32 logits ``(batch, K)``,
or ``(batch, 1)`` for a binary single-logit model (probabilities ``[1 − σ(z), σ(z)]``), or
``(batch, L)`` for a multi-label model (``multilabel: true``; each label's probability ``σ(z)``,
predicted from its ``decision.thresholds`` entry). The ONNX model's batch axis is dynamic (input
``images``, output ``logits``).

``model.ts`` is ``torch.jit.trace`` of the model on uint8 input. A model whose forward pass
cannot be traced (COVID-Lite: kornia's CLAHE computes with Python integers taken from tensor
shapes) is exported as ONNX only; ``bundle.json`` then says so (``files.torchscript`` is
``null`` and ``torchscript_error`` gives the reason). The same shape arithmetic fixes the ONNX
graph's batch size, so such a model is exported at batch 1 (``onnx_batch``: 1) and run image
by image (as is any model whose dynamic-batch export comes out with a fixed batch).

Both files are checked against the PyTorch model on real inputs (the ``samples`` given, else
synthetic phantoms) before ``bundle.json`` is written: ONNX (through onnxruntime) must agree
to ``tolerance`` in every logit, or the export fails; TorchScript that does not agree is left
out as untraceable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import raycxr
from raycxr.experiment import (
    BEST_FILE,
    BUNDLE_FILE,
    CV_DIR,
    ONNX_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    TORCHSCRIPT_FILE,
    TRAIN_METRICS,
    test_file,
)
from raycxr.predict import LoadedModel, OnnxModule, run_model

TOLERANCE = 1e-4
#: Files copied from the source folder into the bundle when present: source → name in the bundle.
_CV_FILES = {
    REPORT_FILE: REPORT_FILE,
    SUMMARY_FILE: "cv_summary.csv",
    test_file("metrics"): test_file("metrics"),
    test_file("calibration"): test_file("calibration"),
}
COPIED = {
    "experiment": {BEST_FILE: BEST_FILE, **{f"{CV_DIR}/{k}": v for k, v in _CV_FILES.items()}},
    "train": {TRAIN_METRICS: TRAIN_METRICS},
    "cv": {f"../{BEST_FILE}": BEST_FILE, **_CV_FILES},
}


class ExportError(RuntimeError):
    """The export could not be made or did not agree with the PyTorch model (one line)."""


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_model` wrote and measured."""

    out: Path
    bundle: dict[str, Any]
    onnx_max_abs_diff: float
    torchscript_max_abs_diff: float | None
    torchscript_error: str | None
    copied: list[str]

    @property
    def torchscript(self) -> bool:
        return self.torchscript_error is None


def synthetic_samples(size: int, n: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` synthetic phantom radiographs (one per class in turn) at ``size`` px, uint8."""
    from raycxr.data.synthetic import CLASSES, phantom

    rng = np.random.default_rng(seed)
    return np.stack([phantom(CLASSES[i % len(CLASSES)], size, rng) for i in range(n)])


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress lines and deprecation/tracer warnings; keep them for errors."""
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        warnings.simplefilter("ignore")
        yield buffer


def _pytorch_logits(loaded: LoadedModel, images: np.ndarray) -> np.ndarray:
    return run_model(loaded, images).numpy()


def _max_diff(module: torch.nn.Module, images: np.ndarray, reference: np.ndarray) -> float:
    """Largest |logit difference| over ``images`` run as one batch and as batches of one."""
    with torch.inference_mode():
        whole = module(torch.from_numpy(images)).float().numpy()
        single = np.concatenate(
            [module(torch.from_numpy(images[i : i + 1])).float().numpy() for i in range(len(images))]
        )
    return float(max(np.abs(whole - reference).max(), np.abs(single - reference).max()))


class _LogitsAndFeatures(torch.nn.Module):
    """The model's ``logits_and_features`` as its forward: the ONNX graph's two outputs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.logits_and_features(images)


def _with_features(model: torch.nn.Module) -> bool:
    return callable(getattr(model, "logits_and_features", None))


def _features_diff(model: torch.nn.Module, onnx_path: Path, images: np.ndarray) -> float | None:
    """Largest |feature difference| of ONNX against PyTorch, relative to max(1, max |feature|); ``None`` without."""
    onnx = OnnxModule(onnx_path, torch.device("cpu"))
    if not (_with_features(model) and onnx.gives_features):
        return None
    with torch.inference_mode():
        reference = model.logits_and_features(torch.from_numpy(images))[1].float().numpy()
        exported = onnx.logits_and_features(torch.from_numpy(images))[1].numpy()
    return float(np.abs(exported - reference).max() / max(1.0, float(np.abs(reference).max())))


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> str | None:
    """Trace and save (``forward``, and ``logits_and_features`` when the model has it); the reason when the
    model cannot be traced."""
    methods = {"forward": example, **({"logits_and_features": example} if _with_features(model) else {})}
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace_module(model, methods, check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as error:  # noqa: BLE001  (tracing raises whatever the traced code raises)
        path.unlink(missing_ok=True)
        return f"torch.jit.trace failed ({_one_line(error)})"
    return None


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, dynamic: bool = True) -> None:
    """ONNX through the dynamo exporter; ``dynamic``: a dynamic batch axis, else ``example``'s batch size."""
    shapes = {"images": {0: torch.export.Dim("batch", min=1)}} if dynamic else None
    outputs = ["logits"]
    if _with_features(model):  # the feature layer too, for predict's feature OOD score
        model, outputs = _LogitsAndFeatures(model), ["logits", "features"]
    with _quiet() as log:
        try:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["images"],
                output_names=outputs,
                dynamic_shapes=shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as error:  # noqa: BLE001  (torch.export / onnxscript raise many types)
            last = [line for line in log.getvalue().splitlines() if line.strip()][-1:]
            raise ExportError(f"ONNX export failed: {_one_line(error)}{' — ' + last[0] if last else ''}") from None


def _onnx_batch(path: Path) -> int | None:
    import onnx

    dim = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else None


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torchvision

    return {
        "raycxr": raycxr.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _normalisation(loaded: LoadedModel) -> dict[str, Any]:
    layer = getattr(loaded.model, "input", None)
    info: dict[str, Any] = {"kind": loaded.config.normalize, "inside_model": True}
    if layer is not None and hasattr(layer, "mean") and hasattr(layer, "scale"):
        mean = (layer.mean.flatten() / 255.0).tolist()
        std = (1.0 / (layer.scale.flatten() * 255.0)).tolist()
        info |= {"formula": "(uint8 / 255 - mean) / std, gray repeated into 3 channels", "mean": mean, "std": std}
    return info


def _copy_files(loaded: LoadedModel, out: Path) -> list[str]:
    folder = loaded.path if loaded.path.is_dir() else loaded.path.parent
    if loaded.kind == "cv":
        folder = Path(loaded.details["cv_folder"])
    elif loaded.kind == "experiment":
        folder = Path(loaded.details["folder"])
    copied = []
    for source, name in COPIED.get(loaded.kind, {}).items():
        if (folder / source).is_file():
            shutil.copyfile(folder / source, out / name)
            copied.append(name)
    return copied


def _source(loaded: LoadedModel) -> dict[str, Any]:
    keep = ("folder", "trial_id", "checkpoint", "epoch", "best_epoch", "cv_selected", "cv_config", "cv_folder",
            "weights", "test")  # fmt: skip
    return {
        "kind": loaded.kind,
        "path": str(loaded.path.resolve()),
        "description": loaded.source,
        **{k: v for k, v in loaded.details.items() if k in keep},
    }


def _output(loaded: LoadedModel) -> dict[str, Any]:
    """``bundle.json``'s ``output``: the logits and how they become probabilities."""
    output = {"name": "logits", "dtype": "float32", "shape": ["batch", 1 if loaded.binary else len(loaded.classes)]}
    if loaded.multilabel:
        return output | {"probabilities": "sigmoid(logits), one per label (classes are the labels)"}
    return output | {"probabilities": "softmax(logits / temperature); one logit z (binary) as [0, z]"}


def _decision_note(loaded: LoadedModel) -> dict[str, Any]:
    """``multilabel`` (a multi-label model only) and ``decision_note``: how the decision rule predicts."""
    if loaded.multilabel:
        return {
            "multilabel": True,
            "decision_note": "label classes[l] is predicted when its sigmoid probability reaches thresholds[l] "
            "(each chosen on validation for the label's best F1); several labels, or none, may be predicted",
        }
    return {
        "decision_note": "argmax, or (two classes) classes[1] when its uncalibrated probability reaches threshold; "
        "probabilities are reported as softmax(logits / temperature)"
    }


def export_model(
    loaded: LoadedModel,
    out: str | Path,
    samples: np.ndarray | None = None,
    sample_note: str | None = None,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Write ``out/model.ts`` (when traceable), ``out/model.onnx``, copied reports and ``out/bundle.json``.

    Args:
        loaded: A PyTorch model (not a bundle).
        out: The bundle folder (created; must not hold a bundle already).
        samples: uint8 images ``(N, S, S)`` at the model's size to check the exports on (at least
            one; default: four synthetic phantoms).
        sample_note: How ``samples`` were made, for ``bundle.json``.
        tolerance: Largest accepted |logit difference| of ONNX against PyTorch.

    Raises:
        ExportError: ONNX export failed or disagrees with PyTorch by more than ``tolerance``.
        ValueError: ``loaded`` is a bundle, or ``samples`` have the wrong shape.
    """
    if loaded.kind == "bundle":
        raise ValueError(f"{loaded.path} is a bundle already; export the experiment or training folder it came from.")
    out = Path(out)
    size = loaded.image_size
    if samples is None:
        samples, sample_note = synthetic_samples(size), "4 synthetic phantoms (raycxr.data.synthetic)"
    if samples.ndim != 3 or samples.shape[1:] != (size, size) or samples.dtype != np.uint8 or not len(samples):
        raise ValueError(f"samples must be uint8 images (N, {size}, {size}), got {samples.dtype} {samples.shape}.")
    if len(samples) == 1:  # the check runs a batch of two too
        samples = np.concatenate([samples, samples[:, ::-1].copy()])
    out.mkdir(parents=True, exist_ok=True)
    (out / BUNDLE_FILE).unlink(missing_ok=True)  # a failed export leaves no bundle behind
    model = loaded.model.to("cpu").eval()
    cpu = dataclasses.replace(loaded, device=torch.device("cpu"))
    reference = _pytorch_logits(cpu, samples)
    example = torch.from_numpy(samples[:2].copy())

    ts_path, ts_diff = out / TORCHSCRIPT_FILE, None
    ts_error = _export_torchscript(model, example, ts_path)
    if ts_error is None:
        try:
            with _quiet():
                ts_diff = _max_diff(torch.jit.load(str(ts_path)), samples, reference)
        except Exception as error:  # noqa: BLE001  (a traced graph that fails on other inputs)
            ts_error = f"the traced model fails on other inputs ({_one_line(error)})"
        else:
            if not ts_diff <= tolerance:
                ts_error = f"the traced model disagrees with PyTorch (max |Δlogit| {ts_diff:.3g} > {tolerance:g})"
        if ts_error is not None:
            ts_path.unlink(missing_ok=True)
            ts_diff = None

    onnx_path, onnx_batch = out / ONNX_FILE, None
    if ts_error is None:
        _export_onnx(model, example, onnx_path)
        onnx_batch = _onnx_batch(onnx_path)
    if ts_error is not None or onnx_batch not in (None, 1):
        # Python control flow on tensor shapes (what breaks tracing) also fixes the ONNX graph's
        # batch size: export at batch 1, run image by image.
        _export_onnx(model, example[:1].clone(), onnx_path, dynamic=False)
        onnx_batch = _onnx_batch(onnx_path)
    try:
        onnx_diff = _max_diff(OnnxModule(onnx_path, torch.device("cpu")), samples, reference)
    except Exception as error:  # noqa: BLE001  (onnxruntime raises its own exception types)
        raise ExportError(f"{onnx_path}: onnxruntime cannot run the exported model ({_one_line(error)}).") from None
    if not onnx_diff <= tolerance:
        raise ExportError(
            f"{onnx_path}: ONNX (onnxruntime) disagrees with PyTorch: max |Δlogit| {onnx_diff:.3g} > {tolerance:g}; "
            "no bundle.json written."
        )
    features_diff = _features_diff(model, onnx_path, samples)
    if features_diff is not None and not features_diff <= tolerance:
        raise ExportError(
            f"{onnx_path}: ONNX (onnxruntime) features disagree with PyTorch: max |Δ| / max(1, max |feature|) "
            f"{features_diff:.3g} > {tolerance:g}; no bundle.json written."
        )
    copied = _copy_files(loaded, out)
    cfg = loaded.config
    bundle = {
        "format": "raycxr-bundle",
        "format_version": 2,
        "backbone": cfg.backbone,
        "head": cfg.head,
        "input": {
            "name": "images",
            "dtype": "uint8",
            "shape": ["batch", size, size],
            "size": size,
            "interpolation": cfg.interpolation,
            "resize": cfg.resize,
            "decode": "raycxr.data.read_image(path, size, interpolation, resize): 8-bit grayscale (16-bit PNG "
            "stretched by min/max, DICOM windowed, MONOCHROME1 inverted), made square by the resize policy "
            "('pad': centred on black; 'crop': centre square; 'stretch': aspect ratio lost), then resized to "
            "size × size",
            "normalisation": _normalisation(loaded),
        },
        "output": _output(loaded),
        "features_output": None
        if features_diff is None
        else {
            "name": "features",
            "dtype": "float32",
            "shape": ["batch", "D"],
            "use": "the feature layer (the classifier's input): decision.features scores it (squared Mahalanobis "
            "distance to the nearest class mean) to flag inputs unlike the validation images; TorchScript: the "
            "module's logits_and_features method",
        },
        "classes": list(loaded.classes),
        "binary": cfg.binary,
        "decision": loaded.rule.to_dict(),
        **_decision_note(loaded),
        "files": {"onnx": ONNX_FILE, "torchscript": TORCHSCRIPT_FILE if ts_error is None else None},
        "onnx_batch": onnx_batch,
        "torchscript_error": ts_error,
        "check": {
            "inputs": sample_note or f"{len(samples)} sample image(s)",
            "n": len(samples),
            "tolerance": tolerance,
            "onnx_max_abs_diff": onnx_diff,
            "torchscript_max_abs_diff": ts_diff,
            "onnx_features_max_rel_diff": features_diff,
        },
        "training_data_sha256": loaded.details.get("splits_sha256"),
        "training_data_note": "SHA-256 of the experiment's splits.csv (every file's hash, class and role)"
        if loaded.details.get("splits_sha256")
        else "no splits.csv (not a search experiment)",
        "train_config": cfg.model_dump(mode="json", exclude={"data", "out", "cache_dir"}),
        "versions": _versions(),
        "source": _source(loaded),
        "copied": copied,
    }
    (out / BUNDLE_FILE).write_text(json.dumps(bundle, indent=2, default=str))
    return ExportResult(out, bundle, onnx_diff, ts_diff, ts_error, copied)
