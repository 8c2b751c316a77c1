"""The network and the loss of a run, built from its config through the registries."""

from __future__ import annotations

from raycxr.models import FreezeNet, build_model
from raycxr.train._config import TrainConfig


def model_for(cfg: TrainConfig, num_classes: int, weights: str | None = None) -> FreezeNet:
    """The network ``cfg`` describes for ``num_classes`` classes (one output logit for a binary task).

    Args:
        weights: Overrides ``cfg.weights`` (``"none"`` to build the architecture for a
            checkpoint's weights).

    Raises:
        ValueError: ``cfg.binary`` with other than two classes.
    """
    if cfg.binary and num_classes != 2:
        raise ValueError(f"binary needs exactly two classes, the data has {num_classes}.")
    return build_model(
        cfg.backbone,
        num_classes=1 if cfg.binary else num_classes,
        weights=cfg.weights if weights is None else weights,
        freeze_ratio=cfg.freeze_ratio,
        freeze_mode=cfg.freeze_mode,
        head=cfg.head,
        normalize=cfg.normalize,
        seed=cfg.seed,
        image_size=cfg.image_size,
        head_widths=cfg.head_widths,
        head_dropout=cfg.head_dropout,
        head_pool=cfg.head_pool,
    )
