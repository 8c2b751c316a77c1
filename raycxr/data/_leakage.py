"""Leakage audit: duplicate pairs counted within and across roles, and across any boundary.

Public COVID chest X-ray collections are merged from several sources and carry the same
radiograph more than once, byte-identical or re-encoded, resized or slightly shifted. A
duplicate with one copy on each side of a boundary leaks across it:

* dev / test: the test score is inflated;
* CV folds, nested outer folds: a fold's score is inflated (its copy trained);
* the search's train / validation slice: early stopping and trial selection are inflated.

The pairs come from :func:`~raycxr.data.find_duplicates` on :func:`~raycxr.data.file_phashes`
(taken at a fixed audit resolution, whatever the training size). :func:`audit` counts them
by role (dev/test) for ``leakage.csv``; :func:`straddling` labels the pairs (by row or by
file) that cross any other partition (:func:`fold_parts` for CV folds) and
:func:`straddle_summary` says it in a sentence; :func:`leaked_test_rows` names the test
images to leave out for "test metrics without the leaked images".
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._duplicates import KINDS, PAIR_COLUMNS, duplicate_groups, pair_rows
from raycxr.data._index import DatasetIndex
from raycxr.data._manifest import relative_files
from raycxr.data._splits import Split


def _natural_key(role: str) -> list[object]:
    """'fold2' before 'fold10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", role)]


@dataclasses.dataclass(frozen=True)
class LeakageAudit:
    """Duplicate pairs of a dataset and their counts within and across roles.

    Attributes:
        pairs: :func:`find_duplicates` table plus ``role_a`` and ``role_b``.
        roles: Role of each row (str), e.g. ``'dev'``/``'test'`` or ``'fold0'``….
        counts: One row per unordered pair of roles (``role_a == role_b`` for pairs
            within a role), roles in natural order, with the number of ``exact`` and
            ``near`` pairs.
        groups: Complete-linkage duplicate group of each row (:func:`duplicate_groups`).
        max_distance: Threshold the near pairs were found with, when known.
        hash_bits: Bits of the perceptual hash, when known.
    """

    pairs: pd.DataFrame
    roles: np.ndarray
    counts: pd.DataFrame
    groups: np.ndarray
    max_distance: int | None = None
    hash_bits: int | None = None

    @property
    def n_exact(self) -> int:
        return int((self.pairs["kind"] == "exact").sum())

    @property
    def n_near(self) -> int:
        return int((self.pairs["kind"] == "near").sum())

    @property
    def leaks(self) -> pd.DataFrame:
        """The pairs whose two rows have different roles."""
        return self.pairs[self.pairs["role_a"] != self.pairs["role_b"]]

    def count(self, role_a: str, role_b: str | None = None, kind: str | None = None) -> int:
        """Pairs between ``role_a`` and ``role_b`` (either order; within ``role_a`` if omitted).

        Raises:
            ValueError: ``kind`` is not ``'exact'``, ``'near'`` or ``None``.
        """
        if kind not in (None, *KINDS):
            raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}.")
        role_b = role_a if role_b is None else role_b
        match = ((self.pairs["role_a"] == role_a) & (self.pairs["role_b"] == role_b)) | (
            (self.pairs["role_a"] == role_b) & (self.pairs["role_b"] == role_a)
        )
        if kind is not None:
            match &= self.pairs["kind"] == kind
        return int(match.sum())

    def to_frame(self, index: DatasetIndex, root: str | Path) -> pd.DataFrame:
        """The pairs as a readable table: files relative to the data root, classes, roles.

        Columns ``file_a, file_b, class_a, class_b, role_a, role_b, kind, distance``;
        pairs across roles first, then exact before near, closest first. Files are as in
        the split manifest (:func:`~raycxr.data.relative_files`).

        Raises:
            ValueError: ``index`` does not have one row per audited row.
        """
        if len(index) != len(self.roles):
            raise ValueError(
                f"index has {len(index)} rows but the audit covers {len(self.roles)}; pass the audited index."
            )
        rel = relative_files(index, root)
        classes = np.asarray(index.label_names(), dtype=object)
        a, b = self.pairs["row_a"].to_numpy(), self.pairs["row_b"].to_numpy()
        table = pd.DataFrame(
            {
                "file_a": [rel[i] for i in a],
                "file_b": [rel[i] for i in b],
                "class_a": classes[a],
                "class_b": classes[b],
                "role_a": self.pairs["role_a"].to_numpy(),
                "role_b": self.pairs["role_b"].to_numpy(),
                "kind": self.pairs["kind"].to_numpy(),
                "distance": self.pairs["distance"].to_numpy(),
            }
        )
        table["_within"] = table["role_a"] == table["role_b"]
        table["_kind"] = table["kind"].map({"exact": 0, "near": 1})
        table = table.sort_values(["_within", "_kind", "distance", "file_a", "file_b"], kind="stable")
        return table.drop(columns=["_within", "_kind"]).reset_index(drop=True)

    def write_csv(self, path: str | Path, index: DatasetIndex, root: str | Path) -> Path:
        """Write :meth:`to_frame` as CSV to ``path`` (``path/leakage.csv`` if a directory).

        Returns the file written.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "leakage.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame(index, root).to_csv(path, index=False)
        return path

    def summary(self) -> str:
        """One paragraph for a report."""
        n = len(self.roles)
        threshold = (
            f"Hamming distance ≤ {self.max_distance} of {self.hash_bits} perceptual-hash bits"
            if self.max_distance is not None and self.hash_bits is not None
            else "perceptual hash"
        )
        if self.pairs.empty:
            return f"Leakage audit of {n} images: no exact or near-duplicate pairs ({threshold})."
        sizes = np.bincount(self.groups)
        dup_groups = int((sizes > 1).sum())
        parts = [
            f"Leakage audit of {n} images: {self.n_exact} exact-duplicate and {self.n_near} near-duplicate pair(s) "
            f"({threshold}) in {dup_groups} group(s) holding {int(sizes[sizes > 1].sum())} images "
            f"(largest {int(sizes.max())}); keeping one image per group would drop {int((sizes[sizes > 1] - 1).sum())}."
        ]

        def describe(rows: pd.DataFrame) -> str:
            bits = []
            for _, r in rows.iterrows():
                what = ", ".join(f"{r[k]} {k}" for k in KINDS if r[k])
                where = r["role_a"] if r["role_a"] == r["role_b"] else f"{r['role_a']}–{r['role_b']}"
                bits.append(f"{where}: {what}")
            return "; ".join(bits)

        nonzero = self.counts[(self.counts["exact"] + self.counts["near"]) > 0]
        across = nonzero[nonzero["role_a"] != nonzero["role_b"]]
        within = nonzero[nonzero["role_a"] == nonzero["role_b"]]
        n_leaks = len(self.leaks)
        if n_leaks:
            parts.append(f"{n_leaks} pair(s) cross roles and leak ({describe(across)}).")
        else:
            parts.append("No pair crosses roles: no leakage between them.")
        if len(within):
            parts.append(f"Within one role: {describe(within)}.")
        return " ".join(parts)


def audit(pairs: pd.DataFrame, roles: Sequence[str] | np.ndarray) -> LeakageAudit:
    """Count duplicate pairs within each role and across each pair of roles.

    Args:
        pairs: The table of :func:`find_duplicates`.
        roles: Role of each row (``'dev'``, ``'test'``, ``'fold3'``…); its length is the
            number of rows.

    Raises:
        ValueError: ``roles`` is not 1-D, ``pairs`` lacks a column, names a row outside
            ``roles`` or has a kind other than ``'exact'``/``'near'``.
    """
    roles = np.asarray(roles)
    if roles.ndim != 1:
        raise ValueError(f"roles must be 1-D (one role per row), got shape {roles.shape}.")
    roles = roles.astype(str).astype(object)
    if not isinstance(pairs, pd.DataFrame) or set(PAIR_COLUMNS) - set(pairs.columns):
        have = list(pairs.columns) if isinstance(pairs, pd.DataFrame) else type(pairs).__name__
        raise ValueError(f"pairs must be the table of find_duplicates with columns {list(PAIR_COLUMNS)}, got {have}.")
    row_a, row_b = pair_rows(len(roles), pairs)
    unknown = sorted(set(pairs["kind"]) - set(KINDS))
    if unknown:
        raise ValueError(f"pairs has kind(s) {unknown}; expected {list(KINDS)}.")
    table = pairs[list(PAIR_COLUMNS)].reset_index(drop=True).copy()
    table["role_a"] = roles[row_a]
    table["role_b"] = roles[row_b]

    names = sorted(set(roles.tolist()), key=_natural_key)
    rank = {r: i for i, r in enumerate(names)}
    tally: collections.Counter[tuple[str, str, str]] = collections.Counter(
        (*sorted((ra, rb), key=rank.__getitem__), kind)
        for ra, rb, kind in zip(table["role_a"], table["role_b"], table["kind"])
    )
    counts = pd.DataFrame(
        [
            {"role_a": ra, "role_b": rb, **{k: tally[(ra, rb, k)] for k in KINDS}}
            for i, ra in enumerate(names)
            for rb in names[i:]
        ],
        columns=["role_a", "role_b", *KINDS],
    )
    return LeakageAudit(
        pairs=table,
        roles=roles,
        counts=counts,
        groups=duplicate_groups(len(roles), table),
        max_distance=pairs.attrs.get("max_distance"),
        hash_bits=pairs.attrs.get("hash_bits"),
    )


# --------------------------------------------------------------------------- any boundary

_KEY_COLUMNS = (("row_a", "row_b"), ("file_a", "file_b"))


def _keys(pairs: pd.DataFrame) -> tuple[str, str]:
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError(f"pairs must be a DataFrame (find_duplicates or leakage.csv), got {type(pairs).__name__}.")
    for a, b in _KEY_COLUMNS:
        if {a, b} <= set(pairs.columns):
            return a, b
    raise ValueError(f"pairs needs columns row_a, row_b (rows) or file_a, file_b (files), got {list(pairs.columns)}.")


def _part_map(parts: Mapping[Hashable, str] | Sequence[str] | np.ndarray) -> Mapping[Hashable, str]:
    if isinstance(parts, Mapping):
        return parts
    labels = np.asarray(parts, dtype=object)
    if labels.ndim != 1:
        raise ValueError(f"parts must be a mapping (row or file -> part) or 1-D (one per row), got {labels.shape}.")
    return {i: label for i, label in enumerate(labels.tolist()) if label is not None and label == label}


def straddling(pairs: pd.DataFrame, parts: Mapping[Hashable, str] | Sequence[str] | np.ndarray) -> pd.DataFrame:
    """The duplicate pairs whose two images lie in different parts of a partition.

    Args:
        pairs: Duplicate pairs by row (``row_a, row_b``: :func:`find_duplicates`) or by
            file (``file_a, file_b``: ``leakage.csv``); other columns (``kind``,
            ``distance`` …) are kept.
        parts: Part of each image: a mapping from row (or file) to a label such as
            ``'fold3'`` or ``'train'``/``'val'`` (:func:`fold_parts`), or a sequence with
            one label per row (``None`` for a row in no part). Images not in ``parts``
            (e.g. test images when the partition is of dev) are outside it: their pairs
            are ignored.

    Returns:
        The pairs with both images in ``parts`` and in different parts, with columns
        ``part_a`` and ``part_b`` added, in their original order. ``attrs["considered"]``
        is the number of pairs with both images in ``parts``; ``attrs["parts"]`` the labels
        in natural order.

    Raises:
        ValueError: ``pairs`` is not a DataFrame with row or file columns, or ``parts``
            is neither a mapping nor 1-D.
    """
    a, b = _keys(pairs)
    part_of = _part_map(parts)
    part_a = pairs[a].map(part_of.get) if len(pairs) else pd.Series([], dtype=object)
    part_b = pairs[b].map(part_of.get) if len(pairs) else pd.Series([], dtype=object)
    inside = part_a.notna() & part_b.notna()
    table = pairs.assign(part_a=part_a, part_b=part_b)[inside & (part_a != part_b)].reset_index(drop=True)
    names = sorted({str(v) for v in part_of.values()}, key=_natural_key)
    table.attrs = {"considered": int(inside.sum()), "parts": names}
    return table


def straddle_summary(straddle: pd.DataFrame, boundary: str) -> str:
    """One sentence on :func:`straddling`'s result, e.g. ``boundary='CV folds'``.

    Raises:
        ValueError: ``straddle`` lacks ``part_a``/``part_b`` (not from :func:`straddling`).
    """
    if not {"part_a", "part_b"} <= set(straddle.columns):
        raise ValueError(f"straddle must be the table of straddling(), got columns {list(straddle.columns)}.")
    considered = straddle.attrs.get("considered", len(straddle))
    if straddle.empty:
        return f"{boundary}: no duplicate pair straddles two parts ({considered} pair(s) within the parts)."
    where = collections.Counter(
        "–".join(sorted((str(x), str(y)), key=_natural_key)) for x, y in zip(straddle["part_a"], straddle["part_b"])
    )
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(where.items(), key=lambda kv: (-kv[1], kv[0]))[:6])
    more = " …" if len(where) > 6 else ""
    kinds = ""
    if "kind" in straddle.columns:
        kinds = " (" + ", ".join(f"{int((straddle['kind'] == k).sum())} {k}" for k in KINDS) + ")"
    return (
        f"{boundary}: {len(straddle)} of {considered} duplicate pair(s){kinds} straddle two parts and leak "
        f"across them ({shown}{more})."
    )


def fold_parts(splits: Sequence[Split]) -> dict[int, str]:
    """Row → ``'fold1'``… ``'foldK'``: the fold whose test set holds the row (CV or nested outer folds).

    A pair in two folds leaks: when one fold is scored, the other copy trains or validates.

    Raises:
        ValueError: A row is in the test set of two folds.
    """
    out: dict[int, str] = {}
    for k, split in enumerate(splits, start=1):
        for row in np.asarray(split.test).tolist():
            if row in out:
                raise ValueError(f"row {row} is in the test set of {out[row]} and fold{k}; folds must not overlap.")
            out[row] = f"fold{k}"
    return out


def leaked_test_rows(pairs: pd.DataFrame, test: Iterable[Hashable]) -> list[Hashable]:
    """Test images with a duplicate outside the test set: leave them out for leak-free test metrics.

    Args:
        pairs: Duplicate pairs by row or by file (as :func:`straddling`), of the images of
            the experiment (dev and test).
        test: The test rows (or files).

    Returns:
        The members of ``test`` that are in a pair whose other image is not a test image,
        sorted.
    """
    a, b = _keys(pairs)
    held = set(test)
    in_a, in_b = pairs[a].isin(held), pairs[b].isin(held)
    leaked = set(pairs.loc[in_a & ~in_b, a]) | set(pairs.loc[in_b & ~in_a, b])
    return sorted(leaked)
