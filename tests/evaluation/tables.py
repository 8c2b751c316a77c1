"""A small fixed prediction table that the tests compute by hand.

Ten rows, three classes. Top-1 prediction, its confidence, and whether it is right::

    row  y  proba                pred  conf  right
     0   0  (0.90, 0.05, 0.05)    0    0.90   yes
     1   0  (0.70, 0.20, 0.10)    0    0.70   yes
     2   0  (0.35, 0.45, 0.20)    1    0.45   no
     3   1  (0.10, 0.85, 0.05)    1    0.85   yes
     4   1  (0.25, 0.65, 0.10)    1    0.65   yes
     5   1  (0.55, 0.30, 0.15)    0    0.55   no
     6   2  (0.10, 0.15, 0.75)    2    0.75   yes
     7   2  (0.20, 0.30, 0.50)    2    0.50   yes
     8   2  (0.03, 0.95, 0.02)    1    0.95   no
     9   0  (0.42, 0.33, 0.25)    0    0.42   yes
"""

from __future__ import annotations

import numpy as np

Y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
PROBA = np.array(
    [
        [0.90, 0.05, 0.05],
        [0.70, 0.20, 0.10],
        [0.35, 0.45, 0.20],
        [0.10, 0.85, 0.05],
        [0.25, 0.65, 0.10],
        [0.55, 0.30, 0.15],
        [0.10, 0.15, 0.75],
        [0.20, 0.30, 0.50],
        [0.03, 0.95, 0.02],
        [0.42, 0.33, 0.25],
    ]
)
PRED = np.array([0, 0, 1, 1, 1, 0, 2, 2, 1, 0])


def onehot(labels: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Probabilities that put all mass on ``labels``: a model that predicts exactly these classes."""
    return np.eye(n_classes)[np.asarray(labels)]
