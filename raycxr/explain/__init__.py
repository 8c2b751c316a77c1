"""Explanations of a trained classifier: Grad-CAM saliency maps (pytorch-grad-cam) and shortcut
indicators (saliency in the image border and corners)."""

from __future__ import annotations

from raycxr.explain._saliency import METHODS, PredictedClassTarget, default_layer, saliency_maps
from raycxr.explain._shortcut import (
    DENSITY_RATIO,
    band_area,
    border_mass,
    corner_mass,
    default_threshold,
    shortcut_table,
)

__all__ = [
    "DENSITY_RATIO",
    "METHODS",
    "PredictedClassTarget",
    "band_area",
    "border_mass",
    "corner_mass",
    "default_layer",
    "default_threshold",
    "saliency_maps",
    "shortcut_table",
]
