"""Synthetic chest-radiograph phantoms in the Kaggle COVID-19 Radiography layout.

``python -m raycxr.data.synthetic OUT --n 2000 --size 299 --seed 0`` writes::

    OUT/COVID/images/COVID-1.png            OUT/COVID.metadata.xlsx
    OUT/Lung_Opacity/images/Lung_Opacity-1.png  ...
    OUT/Normal/images/Normal-1.png
    OUT/Viral Pneumonia/images/Viral Pneumonia-1.png

8-bit grayscale PNGs in the class proportions of the real database. Every phantom has
a body outline, two lung fields, mediastinum, heart shadow, spine, clavicles and ribs,
with random position, size, rotation, exposure and noise. The classes differ by their
findings, modelled on the radiology of each:

* COVID: bilateral, peripheral, lower-zone ground-glass opacities.
* Lung_Opacity: one or two focal consolidations, usually on one side, often faint.
* Viral Pneumonia: bilateral perihilar interstitial (streaky) pattern.
* Normal: clear lungs; some carry a faint incidental density, which makes Normal and
  Lung_Opacity deliberately close, as they are in the real data.

Each class also comes from a few "sources" (recorded as the metadata ``URL``) that
shift exposure slightly: sources are confounded with classes, as in the real set.
Image ``i`` of a class depends only on (seed, class, i), so output is deterministic
whatever the number of processes.

``--shift S`` (0 to 1) changes the look of every image as a different hospital's would differ:
the patient off-centre, rotated and smaller in the field, lower contrast, a different gamma,
more detector noise and blur, all growing with ``S``. The findings are the same, so a model that
learned them rather than the look generalises: it is the test set of ``benchmarks/recipe_gain.py``.
``S = 0`` gives exactly the unshifted images.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter

from raycxr.data._cache import default_cache_dir

CLASSES = ("COVID", "Lung_Opacity", "Normal", "Viral Pneumonia")
REAL_COUNTS = (3616, 6012, 10192, 1345)
_SOURCES = {
    "COVID": (
        "https://sirm.org/category/senza-categoria/covid-19/",
        "https://github.com/ieee8023/covid-chestxray-dataset",
        "https://bimcv.cipf.es/bimcv-projects/bimcv-covid19/",
    ),
    "Lung_Opacity": ("https://www.kaggle.com/c/rsna-pneumonia-detection-challenge/data",),
    "Normal": (
        "https://www.kaggle.com/c/rsna-pneumonia-detection-challenge/data",
        "https://www.kaggle.com/paultimothymooney/chest-xray-pneumonia",
    ),
    "Viral Pneumonia": ("https://www.kaggle.com/paultimothymooney/chest-xray-pneumonia",),
}


def class_counts(n: int, weights: Sequence[int] = REAL_COUNTS) -> list[int]:
    """Split ``n`` images over the classes in proportion to ``weights`` (each ≥ 1)."""
    if n < len(weights):
        raise ValueError(f"--n must be at least {len(weights)} (one image per class), got {n}.")
    share = np.asarray(weights, dtype=float) / sum(weights) * n
    counts = np.maximum(np.floor(share).astype(int), 1)
    order = np.argsort(-(share - np.floor(share)))
    for i in order[: n - counts.sum()]:  # largest remainders get the leftover images
        counts[i] += 1
    while counts.sum() > n:  # the ≥ 1 floor can overshoot for tiny n
        counts[np.argmax(counts)] -= 1
    return counts.tolist()


def _soft(distance: np.ndarray, width: float) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, with a smooth edge of about ``width``."""
    return 0.5 * (1.0 - np.tanh(distance / width))


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0


def _blob(x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))


def _findings(kind: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Extra density (0..~0.3) of a class's pathology, before masking by the lungs."""
    out = np.zeros_like(x)
    if kind == "COVID":
        for side in (-1.0, 1.0):
            for _ in range(rng.integers(1, 4)):
                cx = side * rng.uniform(0.42, 0.62)
                cy = rng.uniform(-0.05, 0.45)
                out += rng.uniform(0.10, 0.20) * _blob(x, y, cx, cy, rng.uniform(0.08, 0.16))
    elif kind == "Lung_Opacity":
        side = rng.choice((-1.0, 1.0))
        for _ in range(rng.integers(1, 3)):
            cx = side * rng.uniform(0.2, 0.55)
            cy = rng.uniform(-0.4, 0.4)
            out += rng.uniform(0.06, 0.16) * _blob(x, y, cx, cy, rng.uniform(0.06, 0.14))
    elif kind == "Viral Pneumonia":
        streaks = gaussian_filter(rng.standard_normal(x.shape), sigma=(x.shape[0] / 150, x.shape[0] / 60))
        streaks = np.clip(streaks / (streaks.std() + 1e-8), 0, None)
        hilum = _blob(x, y, -0.25, 0.0, 0.22) + _blob(x, y, 0.25, 0.0, 0.22)
        out += rng.uniform(0.06, 0.1) * streaks * hilum + rng.uniform(0.03, 0.07) * hilum
    elif kind == "Normal" and rng.random() < 0.3:  # incidental faint density
        cx, cy = rng.choice((-1.0, 1.0)) * rng.uniform(0.2, 0.55), rng.uniform(-0.4, 0.4)
        out += rng.uniform(0.03, 0.07) * _blob(x, y, cx, cy, rng.uniform(0.05, 0.1))
    return out


def check_shift(shift: float) -> float:
    """``shift`` if it is a look shift in [0, 1], else a ValueError."""
    if not 0.0 <= shift <= 1.0:
        raise ValueError(f"--shift must be in [0, 1], got {shift}.")
    return float(shift)


def phantom(kind: str, size: int, rng: np.random.Generator, source: int = 0, shift: float = 0.0) -> np.ndarray:
    """One ``size`` × ``size`` uint8 phantom radiograph of class ``kind``.

    ``shift`` in [0, 1] changes the look (position, contrast, gamma, noise, blur) by a fixed amount
    that grows with it; the random draws of the image are those of ``shift = 0`` (the extra noise
    is drawn after all of them), so a shifted image is its unshifted twin seen differently.
    """
    if kind not in CLASSES:
        raise ValueError(f"Unknown class {kind!r}; expected one of {CLASSES}.")
    check_shift(shift)
    # Patient position: shift, scale and a small rotation of the coordinate grid.
    lin = np.linspace(-1.0, 1.0, size)
    gx, gy = np.meshgrid(lin, lin)
    angle = np.deg2rad(rng.normal(0.0, 3.0))
    scale = rng.uniform(0.9, 1.08)
    dx, dy = rng.normal(0.0, 0.04, size=2)
    # Look shift: off-centre (up to 0.14 of the half-width), rotated (up to 10°), smaller (up to 15 %).
    dx, dy, angle = dx + 0.14 * shift, dy - 0.08 * shift, angle + np.deg2rad(10.0 * shift)
    scale *= 1.0 - 0.15 * shift
    x = (np.cos(angle) * gx - np.sin(angle) * gy) / scale - dx
    y = (np.sin(angle) * gx + np.cos(angle) * gy) / scale - dy
    edge = 2.0 / size

    body = _soft(_ellipse(x, y, 0.0, 0.15, 0.88 + rng.normal(0, 0.03), 1.15), 4 * edge)
    lung_l = _soft(_ellipse(x, y, -0.38, -0.08, 0.25 + rng.normal(0, 0.02), 0.55), 3 * edge)
    lung_r = _soft(_ellipse(x, y, 0.38, -0.06, 0.24 + rng.normal(0, 0.02), 0.52), 3 * edge)
    lungs = np.clip(lung_l + lung_r, 0.0, 1.0) * _soft(y - (0.42 - 0.25 * x**2), 3 * edge)
    heart = _soft(_ellipse(x, y, 0.1, 0.26, 0.3 + rng.normal(0, 0.02), 0.26), 8 * edge)
    mediastinum = _soft(np.abs(x) - 0.09 - 0.06 * (y + 1), 4 * edge) * _soft(y - 0.4, 4 * edge)
    spine = _soft(np.abs(x) - 0.05, 2 * edge) * (0.85 + 0.15 * np.cos(y * 40.0))

    ribs = np.zeros_like(x)
    for i in range(9):
        y0 = -0.62 + 0.13 * i + rng.normal(0, 0.01)
        curve = y0 - 0.3 * np.abs(x) + 0.55 * np.abs(x) ** 2
        ribs += np.exp(-(((y - curve) / 0.022) ** 2)) * (np.abs(x) > 0.08)
    clavicles = np.exp(-(((y - (-0.72 - 0.18 * np.abs(x))) / 0.03) ** 2)) * (np.abs(x) < 0.55)

    image = 0.04 + 0.5 * body
    image -= 0.3 * lungs
    image += 0.16 * heart + 0.14 * mediastinum + 0.08 * spine * body
    image += 0.07 * ribs * body + 0.1 * clavicles * body
    image += _findings(kind, x, y, rng) * lungs

    # Exposure and detector: source-specific offset, random gamma/contrast, noise, blur.
    image = gaussian_filter(image, sigma=size / 300 * (1.0 + 2.0 * shift))
    image += rng.normal(0.0, rng.uniform(0.015, 0.035), size=image.shape)
    image = np.clip(image, 0.0, 1.0) ** (rng.uniform(0.8, 1.25) * (1.0 + 0.6 * shift))
    image = image * rng.uniform(0.85, 1.1) + rng.normal(0.0, 0.02) + 0.02 * (source - 1)
    if shift:  # lower contrast about mid-grey, brighter, more detector noise (drawn last: see above)
        image = 0.5 + (image - 0.5) * (1.0 - 0.4 * shift) + 0.06 * shift
        image += rng.normal(0.0, 0.04 * shift, size=image.shape)
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def _write_one(job: tuple[str, int, int, int, int, str, float]) -> str:
    kind, i, size, seed, class_idx, path, shift = job
    rng = np.random.default_rng([seed, class_idx, i])
    source = int(rng.integers(len(_SOURCES[kind])))
    Image.fromarray(phantom(kind, size, rng, source, shift)).save(path, optimize=False)
    return _SOURCES[kind][source]


def generate(
    out: str | Path, n: int = 2000, size: int = 299, seed: int = 0, workers: int | None = None, shift: float = 0.0
) -> Path:
    """Write ``n`` phantoms in the Kaggle layout under ``out``; returns ``out``.

    ``shift`` in [0, 1] changes every image's look (see the module's docstring).

    Raises:
        ValueError: ``n`` is smaller than the number of classes, ``size`` < 32, ``shift``
            is outside [0, 1], or ``out`` already holds a dataset.
    """
    check_shift(shift)
    if size < 32:
        raise ValueError(f"--size must be at least 32 pixels, got {size}.")
    out = Path(out).expanduser()
    if any((out / c).exists() for c in CLASSES):
        raise ValueError(f"{out} already contains a dataset; choose an empty directory.")
    jobs = []
    for class_idx, (kind, count) in enumerate(zip(CLASSES, class_counts(n))):
        folder = out / kind / "images"
        folder.mkdir(parents=True, exist_ok=True)
        jobs += [(kind, i, size, seed, class_idx, str(folder / f"{kind}-{i}.png"), shift) for i in range(1, count + 1)]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        sources = list(pool.map(_write_one, jobs, chunksize=32))
    table = pd.DataFrame(
        {
            "kind": [j[0] for j in jobs],
            "FILE NAME": [Path(j[5]).stem for j in jobs],
            "FORMAT": "PNG",
            "SIZE": f"{size}*{size}",
            "URL": sources,
        }
    )
    for kind, rows in table.groupby("kind"):
        rows.drop(columns="kind").to_excel(out / f"{kind}.metadata.xlsx", index=False)
    return out


def cached_demo(n: int, size: int, seed: int) -> Path:
    """``n`` phantoms of ``size`` px for ``seed``, written once into the raycxr cache; returns the folder."""
    folder = default_cache_dir() / "synthetic" / f"n{n}-s{size}-seed{seed}"
    done = folder / ".complete"
    if not done.is_file():
        print(f"Writing {n} synthetic radiographs to {folder} …", flush=True)
        generate(folder, n=n, size=size, seed=seed)
        done.write_text("")
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.data.synthetic",
        description="Write synthetic chest X-ray phantoms in the Kaggle COVID-19 Radiography layout.",
    )
    parser.add_argument("out", type=Path, help="output directory (created; must not hold a dataset)")
    parser.add_argument("--n", type=int, default=2000, help="total number of images (default 2000)")
    parser.add_argument("--size", type=int, default=299, help="image side in pixels (default 299)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--shift", type=float, default=0.0, help="look shift in [0, 1]: position, contrast, gamma, noise (default 0)"
    )
    args = parser.parse_args(argv)
    try:
        out = generate(args.out, n=args.n, size=args.size, seed=args.seed, shift=args.shift)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    counts = dict(zip(CLASSES, class_counts(args.n)))
    print(f"wrote {args.n} images to {out}: {counts}")


if __name__ == "__main__":
    main()
