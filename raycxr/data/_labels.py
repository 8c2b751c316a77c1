"""Multi-label values: what a label cell of an ``(N, L)`` :class:`~raycxr.data.DatasetIndex` may hold.

One float32 per image and label, the CheXpert labeller's convention carried to every
multi-label dataset:

* ``1.0`` (:data:`POSITIVE`): the finding is reported;
* ``0.0`` (:data:`NEGATIVE`): it is reported absent (or, for a dataset that only lists its
  positives, such as NIH ChestX-ray14 and PadChest, not listed);
* ``-1.0`` (:data:`UNCERTAIN`): reported as uncertain (CheXpert, MIMIC-CXR);
* ``NaN``: not mentioned, or the image has no label at all.

A training loss wants 0/1 targets and a mask: :func:`apply_uncertain` decides the uncertain
ones (the CheXpert paper's U-Ignore, U-Zeros and U-Ones); ``NaN`` stays ``NaN`` for the loss to
mask out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POSITIVE = 1.0
NEGATIVE = 0.0
UNCERTAIN = -1.0
#: ``apply_uncertain``'s policies: what ``-1`` becomes (``NaN``, ``0``, ``1``).
UNCERTAIN_POLICIES = {"ignore": np.nan, "zeros": NEGATIVE, "ones": POSITIVE}


def check_multilabel(labels: np.ndarray, classes: Sequence[str]) -> None:
    """``labels`` is a valid ``(N, L)`` multi-label array for the label names ``classes``.

    Raises:
        ValueError: Not a float array, ``L != len(classes)``, or a value outside 1, 0, -1 and
            NaN (the first such value named with its row and label, and how many there are).
    """
    if not np.issubdtype(labels.dtype, np.floating):
        raise ValueError(f"multi-label labels must be float (1, 0, -1, NaN), got dtype {labels.dtype}.")
    if labels.shape[1] != len(classes):
        raise ValueError(f"labels have {labels.shape[1]} column(s) but there are {len(classes)} label names.")
    bad = ~(np.isnan(labels) | np.isin(labels, (POSITIVE, NEGATIVE, UNCERTAIN)))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"label value {float(labels[row, column])!r} (row {row}, label {classes[column]!r}; {int(bad.sum())} such "
            "value(s)) is not one of 1 (positive), 0 (negative), -1 (uncertain), NaN (not mentioned)."
        )


def apply_uncertain(labels: np.ndarray, policy: str) -> np.ndarray:
    """A copy of multi-label ``labels`` with every uncertain ``-1`` decided by ``policy``.

    Args:
        labels: Values 1, 0, -1 and NaN (any shape).
        policy: ``ignore`` (-1 becomes NaN: masked like an unmentioned label), ``zeros`` (0) or
            ``ones`` (1). NaN stays NaN under every policy.

    Returns:
        A float32 array of the same shape without -1.

    Raises:
        ValueError: An unknown ``policy`` (the choices are listed).
    """
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain-label policy {policy!r} is not one of {', '.join(UNCERTAIN_POLICIES)}.")
    decided = np.array(labels, dtype=np.float32, copy=True)
    decided[decided == UNCERTAIN] = UNCERTAIN_POLICIES[policy]
    return decided
