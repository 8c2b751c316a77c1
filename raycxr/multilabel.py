"""The multi-label label table: ``(N, L)`` floats, 1 positive, 0 negative, NaN unknown.

The one statement of the convention and its one check, shared by the losses (per-label training
counts), the metrics and the splits. A public module (like :mod:`raycxr.params`) so that every
package may import it without reaching into another package's private module; it imports nothing
of raycxr and not torch.

An entry is *unknown* (NaN) when the image was not labelled for that finding, or its label was
uncertain under the ``ignore`` policy (the uncertain policy has already turned CheXpert's −1 into
NaN, 0 or 1 before any of this sees it). Unknown entries are masked everywhere: from the loss,
from every metric, from stratification counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_multilabel(labels: object, name: str = "labels", classes: Sequence[str] | None = None) -> np.ndarray:
    """Return ``labels`` as an ``(N, L)`` float64 array whose entries are 0, 1 or NaN.

    Args:
        labels: The label table.
        name: Its name, for messages.
        classes: The L label names; when given, their number must be L.

    Raises:
        ValueError: Not 2-D, no rows or no columns, an entry other than 0, 1 or NaN (the first
            is named), or as many names as columns.
    """
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers (0, 1 or NaN), got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, L) with N, L ≥ 1, got shape {arr.shape}.")
    bad = np.argwhere(~np.isnan(arr) & (arr != 0.0) & (arr != 1.0))
    if len(bad):
        row, col = bad[0]
        raise ValueError(
            f"{name} must hold 0 (negative), 1 (positive) or NaN (unknown); row {int(row)}, label {int(col)} "
            f"is {float(arr[row, col])!r} ({len(bad)} such entries)."
        )
    if classes is not None and len(classes) != arr.shape[1]:
        raise ValueError(f"{name} has {arr.shape[1]} labels but {len(classes)} names were given: {list(classes)}.")
    return arr


def label_counts(labels: object, rows: np.ndarray | None = None) -> np.ndarray:
    """The known negatives and positives of every label, ``(2, L)`` int64: row 0 negatives, row 1 positives.

    Unknown (NaN) entries count as neither. This is what :func:`~raycxr.losses.build_loss` takes as
    a multi-label task's counts (of the training rows).

    Args:
        labels: The ``(N, L)`` label table.
        rows: Count only these rows (e.g. the training split); all when ``None``.

    Raises:
        ValueError: ``labels`` is not a label table (:func:`check_multilabel`).
    """
    arr = check_multilabel(labels)
    if rows is not None:
        arr = arr[np.asarray(rows)]
    return np.stack([(arr == 0.0).sum(axis=0), (arr == 1.0).sum(axis=0)]).astype(np.int64)
