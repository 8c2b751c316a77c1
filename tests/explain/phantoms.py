"""Images whose class evidence sits where the tests know it is, and a tiny classifier trained on them."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from raycxr.models import Features, FreezeNet, HeadOptions, get_backbone, get_head

SIZE = 64
CLASSES = ("none", "square", "marker")
QUADRANT = (slice(0, SIZE // 2), slice(0, SIZE // 2))  #: top-left: where the square lies
MARKER = 6  #: marker side, within the 10 % border band (6.4 px)


def phantoms(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 noise images, classes in turn: none; a bright 10-px square inside the top-left
    quadrant, clear of the border band (rows and columns 8…25); a bright 6-px marker in a random
    corner (inside the band)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    images = rng.normal(90.0, 10.0, (n, SIZE, SIZE))
    for i, label in enumerate(labels):
        if label == 1:
            r, c = rng.integers(8, 17, size=2)
            images[i, r : r + 10, c : c + 10] = 230
        elif label == 2:
            corner = rng.integers(4)
            r = 0 if corner < 2 else SIZE - MARKER
            c = 0 if corner % 2 == 0 else SIZE - MARKER
            images[i, r : r + MARKER, c : c + MARKER] = 230
    return np.clip(images, 0, 255).astype(np.uint8), labels


def shallow_resnet18(outputs: int) -> FreezeNet:
    """A FreezeNet on the first two blocks of a random resnet18 (stem + layer1: stride 4, a 16×16 map at
    64 px), gmp head. The full backbone's last map is 2×2 at 64 px, too coarse to localise anything."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        blocks = get_backbone("resnet18").build(None).blocks[:2]
        pool, width = get_head("gmp").build((64, 1, 1), HeadOptions())
        return FreezeNet(Features(blocks, 64), pool, width, outputs)


def train(model: FreezeNet, images: np.ndarray, labels: np.ndarray, batch: int = 8) -> FreezeNet:
    """One epoch of Adam, then BatchNorm statistics recomputed on the training images (a few dozen
    steps from scratch leave the running averages far behind the weights) and eval mode."""
    x, y = torch.as_tensor(images), torch.as_tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for start in range(0, len(x), batch):
            loss = torch.nn.functional.cross_entropy(model(x[start : start + batch]), y[start : start + batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    with torch.no_grad():
        model(x[:128])
    for m in norms:
        m.momentum = 0.1
    return model.eval()


@dataclasses.dataclass(frozen=True)
class Trained:
    model: FreezeNet
    images: np.ndarray  #: held-out images
    labels: np.ndarray
    proba: np.ndarray
