"""Grad-CAM saliency maps of a :class:`~raycxr.models.FreezeNet` (pytorch-grad-cam)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

METHODS = ("gradcam", "gradcam++")  #: pytorch-grad-cam's GradCAM and GradCAMPlusPlus


def _cam_class(method: str) -> type:
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # imported when used: it loads much

    return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}[method]


def default_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM reads by default: the last block of ``model.features``.

    Every registered backbone is an ``nn.Sequential`` of blocks whose last block gives the
    ``(B, C, h, w)`` map the head pools, so this is the last convolutional map the
    classifier sees (MobileNetV2: its final 1×1 convolution, 7×7 at 224 px). A timm model
    kept as one block (``TimmFeatures``) is its whole ``forward_features``; a token model
    (ViT) gives a ``(B, C, N, 1)`` map there, which is not an image: pass another ``layer``.

    The map is as coarse as that layer: a stride-32 backbone gives 2×2 at 64 px, whose cells
    each see the whole image, so small test images need an earlier ``layer`` (a 2×2 map,
    upsampled, puts the band's area fraction in the border band whatever its values).
    """
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential) or len(features) == 0:
        raise ValueError("model has no 'features' nn.Sequential of blocks: pass layer= explicitly.")
    return features[-1]


class PredictedClassTarget:
    """The logit of the class the model predicts: the largest of K ≥ 2 logits; for one logit z,
    z when z > 0 (class 1 predicted) and −z otherwise (what ``BinaryClassifierOutputTarget`` takes)."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output.abs().sum() if output.shape[-1] == 1 else output.max()


def _targets(targets: int | Sequence[int] | np.ndarray | torch.Tensor | None, n: int, outputs: int) -> list:
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

    if targets is None:
        return [PredictedClassTarget()] * n
    values = np.asarray(torch.as_tensor(targets).cpu(), dtype=np.int64).reshape(-1)
    if len(values) not in (1, n):
        raise ValueError(f"targets must be one class index or one per image ({n}), got {len(values)}.")
    values = np.broadcast_to(values, (n,))
    classes = 2 if outputs == 1 else outputs
    if n and (values.min() < 0 or values.max() >= classes):
        raise ValueError(f"targets must be class indices in [0, {classes}), got {sorted(set(values.tolist()))}.")
    if outputs == 1:  # one sigmoid logit: class 1 is z, class 0 is −z
        return [BinaryClassifierOutputTarget(int(t)) for t in values]
    return [ClassifierOutputTarget(int(t)) for t in values]


@contextlib.contextmanager
def _preserved(model: nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients inside; every module's mode, every parameter's
    ``requires_grad`` and ``.grad`` restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    try:
        for p, _, _ in params:
            p.requires_grad_(False)  # gradients flow through the activations only
        model.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad, grad in params:
            p.requires_grad_(requires_grad)
            p.grad = grad


def saliency_maps(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    targets: int | Sequence[int] | np.ndarray | torch.Tensor | None = None,
    method: str = "gradcam",
    layer: nn.Module | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Grad-CAM saliency maps: where in each image the evidence for a class lies.

    Runs the model in eval mode with every parameter's gradient off and the input
    requiring one, so the target layer's activations get gradients even when its
    parameters (or the whole backbone, ``freeze_ratio=1``) are frozen. The model's
    modes, ``requires_grad`` flags and ``.grad`` are as before afterwards.

    Args:
        model: A :class:`~raycxr.models.FreezeNet` (uint8 images in, ``(B, K)`` logits out;
            ``K = 1``: one sigmoid logit of a binary task).
        images: ``(B, H, W)`` uint8 grayscale images (numpy or torch).
        targets: Class index per image (or one for all): the class whose evidence is mapped.
            With one logit, 1 maps the logit z and 0 maps −z. ``None``: the predicted class
            (argmax; one logit: z > 0, i.e. probability above 0.5).
        method: ``"gradcam"`` or ``"gradcam++"``.
        layer: The module whose activations are mapped (default: :func:`default_layer`).
        batch_size: Images per forward/backward pass.

    Returns:
        ``(B, H, W)`` float32 maps in [0, 1], each scaled to its own maximum (pytorch-grad-cam:
        ReLU of the class-weighted activations, upsampled bilinearly). A map is all zeros
        when no location has positive evidence.

    Raises:
        ValueError: Bad images, targets or method.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(f"images must be uint8 (B, H, W), got {images.dtype} {tuple(images.shape)}.")
    layer = default_layer(model) if layer is None else layer
    outputs = model.classifier.out_features
    chosen = _targets(targets, len(images), outputs)
    device = next(model.parameters()).device
    maps = np.zeros(images.shape, dtype=np.float32)
    with _preserved(model), torch.enable_grad():
        cam = _cam_class(method)(model, target_layers=[layer])
        try:
            for start in range(0, len(images), batch_size):
                # (b, 1, H, W) float pixel values: GrayscaleInput scales them like uint8, and
                # pytorch-grad-cam reads the map size from the last two dimensions.
                x = images[start : start + batch_size].to(device).unsqueeze(1).float().requires_grad_(True)
                maps[start : start + len(x)] = cam(x, chosen[start : start + len(x)])
        finally:
            cam.activations_and_grads.release()
    return np.clip(maps, 0.0, 1.0)
