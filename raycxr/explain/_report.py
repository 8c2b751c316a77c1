"""Saliency for the report: a seeded choice of correct and misclassified images per class, their
Grad-CAM overlays as one figure per class, and the shortcut table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from torch import nn

from raycxr.explain._overlay import overlay, safe_name
from raycxr.explain._saliency import default_layer, saliency_maps
from raycxr.explain._shortcut import shortcut_table


class SaliencyExample(NamedTuple):
    """One image shown in the report: its position, true class, whether it was classified
    correctly, and the Grad-CAM map of its predicted class."""

    row: int
    class_name: str
    correct: bool
    saliency: np.ndarray


def predictions(proba: np.ndarray, decision_threshold: float | None = None) -> np.ndarray:
    """Predicted class per row: argmax, or for two classes ``P(class 1) ≥ decision_threshold`` when given."""
    proba = np.asarray(proba)
    if decision_threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] >= decision_threshold).astype(np.int64)
    return proba.argmax(axis=1)


def _choose(labels: np.ndarray, predicted: np.ndarray, n_classes: int, per_class: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(n_classes):
        for correct in (True, False):
            pool = np.flatnonzero((labels == k) & ((predicted == k) == correct))
            picked = np.sort(rng.choice(pool, size=min(per_class, len(pool)), replace=False))
            chosen += [(int(i), k, correct) for i in picked]
    return chosen


def saliency_examples(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    per_class: int = 2,
    seed: int = 0,
    *,
    method: str = "gradcam",
    layer: nn.Module | None = None,
    decision_threshold: float | None = None,
) -> list[SaliencyExample]:
    """Up to ``per_class`` correctly and ``per_class`` wrongly classified images of every class, drawn
    with ``seed``, with the Grad-CAM map of the class the model predicted (what drove its decision).

    Args:
        images, labels, proba: ``(N, H, W)`` uint8 images, ``(N,)`` true labels and ``(N, K)`` class
            probabilities of the same rows (e.g. a fold's test rows); ``row`` indexes these arrays.
        classes: Class names in label order.
        decision_threshold: Of a two-class task: ``P(class 1)`` from which class 1 is predicted
            (e.g. the Youden threshold chosen on validation); default argmax.

    Returns:
        Class by class, correct before wrong, rows ascending within each.
    """
    labels = np.asarray(labels)
    if not len(images) == len(labels) == len(proba):
        raise ValueError(f"images, labels and proba must have the same rows, got {len(images)}, {len(labels)}, "
                         f"{len(proba)}.")  # fmt: skip
    predicted = predictions(proba, decision_threshold)
    chosen = _choose(labels, predicted, len(classes), per_class, seed)
    if not chosen:
        return []
    rows = np.array([c[0] for c in chosen])
    maps = saliency_maps(model, np.asarray(images)[rows], predicted[rows], method=method, layer=layer)
    return [SaliencyExample(row, classes[k], correct, m) for (row, k, correct), m in zip(chosen, maps)]


def _layer_name(model: nn.Module, layer: nn.Module) -> str:
    return next((name for name, m in model.named_modules() if m is layer), type(layer).__name__)


def _figure(examples: list[SaliencyExample], images: np.ndarray, predicted: np.ndarray, classes: Sequence[str],
            names: Sequence[str] | None, path: Path) -> None:  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 2.5 * len(examples)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(examples), 2, squeeze=False)
    for (left, right), ex in zip(axes, examples):
        image = np.asarray(images[ex.row])
        left.imshow(image, cmap="gray", vmin=0, vmax=255)
        right.imshow(overlay(image, ex.saliency))
        title = names[ex.row] if names is not None else f"row {ex.row}"
        left.set_title(title, fontsize=8)
        verdict = "correct" if ex.correct else f"wrong: predicted {classes[predicted[ex.row]]}"
        right.set_title(verdict, fontsize=8, color="black" if ex.correct else "red")
        for ax in (left, right):
            ax.set_axis_off()
    fig.suptitle(f"{ex.class_name}: image | Grad-CAM of the predicted class", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def saliency_section(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    per_class: int = 2,
    seed: int = 0,
    method: str = "gradcam",
    layer: nn.Module | None = None,
    decision_threshold: float | None = None,
    audit: int = 200,
    border: float = 0.1,
) -> list[str]:
    """The report's saliency section: markdown lines; writes ``saliency_<class>.png`` per class (image
    and overlay side by side, correct then wrong examples, :func:`saliency_examples`) and, when
    ``audit`` > 0, ``saliency_shortcuts.csv``: :func:`~raycxr.explain.shortcut_table` of the
    predicted class's maps of up to ``audit`` rows drawn with ``seed``, grouped by true class.

    Args:
        images, labels, proba, classes, per_class, seed, method, layer, decision_threshold: As
            :func:`saliency_examples`.
        out: Folder of the figures (the report's; the lines link them by file name).
        names: Per row, a name shown above its image (default ``row i``).
        audit: Rows whose maps feed the shortcut table (0: no table).
        border: Relative width of the border band of the shortcut table.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = np.asarray(images), np.asarray(labels)
    layer = default_layer(model) if layer is None else layer
    predicted = predictions(proba, decision_threshold)
    examples = saliency_examples(model, images, labels, proba, classes, per_class, seed, method=method,
                                 layer=layer, decision_threshold=decision_threshold)  # fmt: skip
    lines = [
        "## Saliency (Grad-CAM)",
        "",
        f"{method} of the predicted class at `{_layer_name(model, layer)}`, upsampled to the image; red marks "
        f"the most evidence. Up to {per_class} correctly and {per_class} wrongly classified images per class, "
        f"drawn with seed {seed}.",
        "",
    ]
    for name in classes:
        mine = [e for e in examples if e.class_name == name]
        lines += [f"### {name}", ""]
        if not mine:
            lines += ["No image of this class.", ""]
            continue
        file = f"saliency_{safe_name(name)}.png"
        _figure(mine, images, predicted, classes, names, out / file)
        lines += [f"![{file}]({file})", ""]
        if all(e.correct for e in mine):
            lines += ["No misclassified image of this class.", ""]
    if audit > 0 and len(images):
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(images), size=min(audit, len(images)), replace=False))
        maps = saliency_maps(model, images[rows], predicted[rows], method=method, layer=layer)
        table = shortcut_table(maps, labels[rows], classes, border=border)
        table.to_csv(out / "saliency_shortcuts.csv", index=False)
        attrs = table.attrs
        lines += [
            "### Shortcut check",
            "",
            f"Share of the saliency in the image's border band ({border:.0%} of each side: "
            f"{attrs['border_area']:.0%} of the pixels, where markers and text sit) and in its four corners "
            f"({attrs['corner_area']:.0%}), mean over {len(rows)} images by true class. A uniform map puts "
            f"{attrs['border_area']:.2f} in the band; a class is flagged above {attrs['threshold']:.2f} (saliency "
            "per pixel in the band twice that of the interior). Maps with too coarse a feature map "
            "(a 2×2 map at small image sizes) cannot concentrate in the band. A class defined by the absence "
            "of findings (Normal) has little localised evidence and its maps often follow the image edges "
            "(which zero padding makes visible to the network): a flag there is weaker evidence of a shortcut.",
            "",
            "| class | n | border mass | corner mass | border / interior density | flagged |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.class_name} | {r.n} | {r.border_mass:.3f} | {r.corner_mass:.3f} | {r.border_ratio:.2f} | "
            f"{'**yes**' if r.flagged else 'no'} |"
            for r in table.rename(columns={"class": "class_name"}).itertuples()
        ]
        lines += ["", "File: `saliency_shortcuts.csv`.", ""]
    return lines
