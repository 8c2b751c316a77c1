"""Explanations of a trained classifier: Grad-CAM saliency maps (pytorch-grad-cam), overlays,
shortcut indicators (saliency in the image border and corners) and the report's saliency section."""

from __future__ import annotations

from raycxr.explain._overlay import overlay, safe_name, write_overlays
from raycxr.explain._report import SaliencyExample, predictions, saliency_examples, saliency_section
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
    "SaliencyExample",
    "band_area",
    "border_mass",
    "corner_mass",
    "default_layer",
    "default_threshold",
    "overlay",
    "predictions",
    "safe_name",
    "saliency_examples",
    "saliency_maps",
    "saliency_section",
    "shortcut_table",
    "write_overlays",
]
