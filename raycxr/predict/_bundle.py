"""Exported bundles (`bundle.json` + ONNX or TorchScript), run without raycxr's training code."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from raycxr.evaluation import DecisionRule
from raycxr.experiment import BUNDLE_FILE
from raycxr.predict._model import LoadedModel, ModelError, Runtime, read_json_file, stored_config, stored_rule


class OnnxModule(nn.Module):
    """An onnxruntime session as a module: uint8 ``(B, S, S)`` tensor → logits tensor.

    A model exported with a fixed batch size (COVID-Lite's CLAHE fixes it) is run in chunks of
    that size, the last one padded. A bundle exported with a second output (``features``, the
    feature layer) also gives :meth:`logits_and_features`, for the feature OOD score.
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
        self.gives_features = [o.name for o in self.session.get_outputs()][:2] == ["logits", "features"]
        self.eval()

    def _run(self, images: torch.Tensor) -> list[np.ndarray]:
        array = images.detach().cpu().numpy()
        if self.fixed_batch is None:
            return self.session.run(None, {self.input_name: array})
        size, parts = self.fixed_batch, []
        for start in range(0, len(array), size):
            chunk = array[start : start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append([out[: len(chunk)] for out in self.session.run(None, {self.input_name: padded})])
        return [np.concatenate(outputs) for outputs in zip(*parts)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._run(images)[0])

    def logits_and_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features ``(B, D)`` (a bundle exported with its feature layer: :attr:`gives_features`)."""
        if not self.gives_features:
            raise ValueError("this ONNX model has no features output (exported by an older raycxr)")
        logits, features = self._run(images)[:2]
        return torch.from_numpy(logits), torch.from_numpy(features)


def _onnx_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _bundle_rule(bundle: dict[str, Any], classes: tuple[str, ...], where: Path) -> DecisionRule:
    """A bundle's decision rule; a version-1 bundle (no ``decision``) had ``temperature`` and ``threshold``
    at its top level: a threshold means the two-class Youden rule, none the arg max."""
    if "decision" in bundle:
        rescore = "export it again (python -m raycxr.export)"
        return stored_rule(bundle["decision"], classes, where, rescore, bool(bundle.get("multilabel")))
    temperature, threshold = bundle.get("temperature"), bundle.get("threshold")
    try:
        return DecisionRule(
            classes,
            "argmax" if threshold is None else "youden",
            None if threshold is None else float(threshold),
            temperature=None if temperature is None else float(temperature),
        )
    except ValueError as error:
        raise ModelError(f"{where}: {error}.") from None


def load_bundle(
    path: Path, folder: Path, runtime: Runtime | None, device: torch.device, auto: bool = False
) -> LoadedModel:
    bundle = read_json_file(folder / BUNDLE_FILE)
    try:
        cfg = stored_config(bundle["train_config"])
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
    rule = _bundle_rule(bundle, classes, folder / BUNDLE_FILE)
    return LoadedModel(
        model=model,
        config=cfg,
        rule=rule,
        kind="bundle",
        path=path,
        source=f"bundle {folder} ({name}, {runtime}; exported from {bundle.get('source', {}).get('description', '?')})",
        runtime=runtime,
        device=device,
        details={"bundle": bundle},
    )
