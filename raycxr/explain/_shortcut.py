"""Shortcut indicators: how much of a saliency map lies in the image border band and corners.

Markers (L/R letters), burnt-in text, rulers and collimation edges of chest radiographs
sit near the image border and in its corners; a classifier that learnt them instead of
the lungs puts its saliency there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DENSITY_RATIO = 2.0  #: default flag: saliency per pixel in the border band ≥ 2 × that of the interior


def _masks(shape: tuple[int, int], border: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(H, W)`` masks of the border band and of the four corner squares.

    A pixel row is an edge row when its centre lies within ``border · H`` of the top or the
    bottom edge (columns likewise with ``W``); the band is every pixel in an edge row or an
    edge column, the corners every pixel in both.
    """
    if not 0.0 < border < 0.5:
        raise ValueError(f"border must lie in (0, 0.5), got {border}.")
    h, w = shape
    rows, cols = np.arange(h) + 0.5, np.arange(w) + 0.5
    edge_rows = (rows < border * h) | (rows > h - border * h)
    edge_cols = (cols < border * w) | (cols > w - border * w)
    return edge_rows[:, None] | edge_cols[None, :], edge_rows[:, None] & edge_cols[None, :]


def band_area(shape: tuple[int, int], border: float = 0.1) -> tuple[float, float]:
    """Fractions of an ``(H, W)`` image's pixels in the border band and in the four corner squares:
    the masses a uniform map puts there (about 1 − (1 − 2b)² and 4b²: 0.36 and 0.04 at b = 0.1)."""
    band, corners = _masks(shape, border)
    return float(band.mean()), float(corners.mean())


def _mass(maps: np.ndarray, mask_index: int, border: float) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (B, H, W), got {maps.shape}.")
    if (maps < 0).any():
        raise ValueError("saliency maps must be non-negative.")
    mask = _masks(maps.shape[1:], border)[mask_index]
    total = maps.sum(axis=(1, 2))
    inside = (maps * mask).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def border_mass(maps: np.ndarray, border: float = 0.1) -> np.ndarray:
    """``(B,)`` fraction of each map's saliency mass in the border band of relative width ``border``
    (rows within ``border · H`` of the top or bottom, columns within ``border · W`` of the sides).

    A uniform map gives the band's area fraction (:func:`band_area`), a map entirely in the
    band 1. NaN for an all-zero map (no evidence anywhere).
    """
    return _mass(maps, 0, border)


def corner_mass(maps: np.ndarray, border: float = 0.1) -> np.ndarray:
    """``(B,)`` fraction of each map's saliency mass in the four ``border·H × border·W`` corner squares
    (NaN for an all-zero map)."""
    return _mass(maps, 1, border)


def default_threshold(area: float, ratio: float = DENSITY_RATIO) -> float:
    """The border mass m at which saliency per pixel in the band is ``ratio`` × that of the interior:
    ``(m / a) / ((1 − m) / (1 − a)) = ratio``, i.e. ``m = ratio · a / (1 + (ratio − 1) · a)``.

    A uniform map has ratio 1 (m = a), a model looking at the lungs less than 1. Ratio 2 at
    b = 0.1 (a = 0.36) is m = 0.53: the band, a third of the image, holds more than half the
    saliency. Unlike a multiple of ``a`` (2a = 0.72), it stays below 1 for any band width.
    """
    return ratio * area / (1.0 + (ratio - 1.0) * area)


def _density_ratio(mass: float, area: float) -> float:
    if np.isnan(mass):
        return float("nan")
    return float("inf") if mass >= 1 else (mass / area) / ((1 - mass) / (1 - area))


def shortcut_table(
    maps: np.ndarray,
    labels: np.ndarray | Sequence[int],
    classes: Sequence[str],
    threshold: float | None = None,
    border: float = 0.1,
) -> pd.DataFrame:
    """Per class: mean border and corner mass of its images' maps, and whether the border is flagged.

    Args:
        maps: ``(B, H, W)`` non-negative saliency maps (e.g. of each image's true or predicted class).
        labels: ``(B,)`` class index of each map (the class the row is reported under).
        classes: Class names in label order.
        threshold: Mean border mass above which a class is flagged (default:
            :func:`default_threshold` of the band's area: per-pixel saliency in the band twice
            that of the interior; 0.53 at ``border=0.1``).
        border: Relative width of the border band and side of the corner squares.

    Returns:
        Columns ``class``, ``n`` (images), ``blank`` (all-zero maps, left out of the means),
        ``border_mass``, ``corner_mass``, ``border_ratio`` (saliency per pixel in the band over
        that in the interior; 1 for a uniform map) and ``flagged``. ``attrs`` holds ``border``,
        ``threshold``, ``border_area`` and ``corner_area``.
    """
    maps = np.asarray(maps)
    labels = np.asarray(labels)
    if maps.ndim != 3 or len(labels) != len(maps):
        raise ValueError(f"maps (B, H, W) and labels (B,) must match, got {maps.shape} and {labels.shape}.")
    area, corner_area = band_area(maps.shape[1:], border)
    threshold = default_threshold(area) if threshold is None else threshold
    borders, corners = border_mass(maps, border), corner_mass(maps, border)
    rows = []
    for k, name in enumerate(classes):
        mine = labels == k
        b, c = borders[mine], corners[mine]
        blank = int(np.isnan(b).sum())
        mean_b = float(np.nanmean(b)) if len(b) > blank else float("nan")
        mean_c = float(np.nanmean(c)) if len(c) > blank else float("nan")
        ratio = _density_ratio(mean_b, area)
        rows.append(
            {
                "class": name,
                "n": int(mine.sum()),
                "blank": blank,
                "border_mass": mean_b,
                "corner_mass": mean_c,
                "border_ratio": ratio,
                "flagged": bool(mean_b > threshold),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update(border=border, threshold=threshold, border_area=area, corner_area=corner_area)
    return table
