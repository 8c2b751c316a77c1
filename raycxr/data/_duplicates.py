"""Duplicate pairs (exact: same file content; near: close perceptual hashes), groups and de-duplication.

:func:`find_duplicates` lists the pairs. :func:`duplicate_groups` joins them by complete
linkage: a row joins a group only if it is a pair with *every* member, so a chain of
pairwise-close but distinct images (a ~ b ~ c, a ≁ c) is never one group and
:func:`dedupe_rows` never deletes c for being close to b.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from raycxr.data._phash import check_int, hamming
from raycxr.data._phash import popcount as _popcount

#: ``max_distance=None`` means ``hash bits // DISTANCE_DIVISOR``: 288 of the default 2304 bits.
DISTANCE_DIVISOR = 8
#: Columns of the pair table returned by :func:`find_duplicates`.
PAIR_COLUMNS = ("row_a", "row_b", "kind", "distance")
KINDS = ("exact", "near")


def _as_words(phashes: np.ndarray) -> np.ndarray:
    words = np.asarray(phashes)
    if words.dtype != np.uint64 or words.ndim not in (1, 2):
        raise ValueError(f"phashes must be a 1-D or 2-D uint64 array, got shape {words.shape} and dtype {words.dtype}.")
    return np.ascontiguousarray(words[:, None] if words.ndim == 1 else words)


def _near_candidates(words: np.ndarray, max_distance: int, chunk_elements: int) -> tuple[np.ndarray, ...]:
    """All pairs ``a < b`` with Hamming distance ≤ ``max_distance``: rows, columns, distances.

    Compares a block of rows with every later row at a time (XOR + popcount per word,
    summed in a uint16 accumulator), so memory stays ~``chunk_elements`` × 3 bytes.
    """
    n, n_words = words.shape
    acc_dtype = np.uint16 if n_words * 64 < 2**16 else np.uint32
    columns = [np.ascontiguousarray(words[:, k]) for k in range(n_words)]
    step = max(1, chunk_elements // max(n, 1))
    found_a, found_b, found_d = [], [], []
    for start in range(0, n - 1, step):
        stop = min(n - 1, start + step)  # rows start..stop-1 against rows start+1..n-1
        acc = np.zeros((stop - start, n - start - 1), dtype=acc_dtype)
        for col in columns:
            acc += _popcount(col[start:stop, None] ^ col[None, start + 1 :])
        i, j = np.nonzero(acc <= max_distance)
        row_a, row_b = i + start, j + start + 1
        upper = row_b > row_a  # the block's lower-left corner repeats earlier pairs
        found_a.append(row_a[upper])
        found_b.append(row_b[upper])
        found_d.append(acc[i[upper], j[upper]])
    if not found_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate(x).astype(np.int64) for x in (found_a, found_b, found_d))


def find_duplicates(
    content_hashes: Sequence[str],
    phashes: np.ndarray,
    max_distance: int | None = None,
    chunk_elements: int = 1 << 20,
) -> pd.DataFrame:
    """Pairs of rows that are exact or near duplicates of each other.

    Args:
        content_hashes: One file content hash per row (e.g. :func:`~raycxr.data.hash_files`); rows with
            equal hashes are exact duplicates.
        phashes: Perceptual hashes, one row per image, as returned by
            :func:`~raycxr.data.file_phashes` (``(N, W)`` uint64; a 1-D ``(N,)`` array is
            64-bit hashes).
        max_distance: Largest Hamming distance, in bits, of a near-duplicate pair. ``None``
            (default) is an eighth of the hash bits: 288 for the default 2304-bit hash
            taken at the audit resolution. Measured by ``benchmarks/leakage_audit.py`` on
            21,165 distinct synthetic radiographs of 299 px (224 M pairs): 7 pairs within
            288 bits (3e-8 of pairs, 14 images; 31 within 320, 2 within 256, none within
            224); copies of 100 of them: 1-px shift p99 258, max 316 (399 of 400 shifted
            copies found), JPEG q75 max 76, +8 grey max 24. 320 would find the last
            shifted copy for four times the false pairs.
        chunk_elements: Pair distances held in memory at once (speed/memory trade-off).

    Returns:
        DataFrame with columns ``row_a < row_b`` (int), ``kind`` (``'exact'`` for equal
        content hashes, else ``'near'``) and ``distance`` (Hamming distance of the
        perceptual hashes), one row per pair, sorted by ``row_a, row_b``. ``attrs`` holds
        ``max_distance`` and ``hash_bits``.

    Raises:
        ValueError: The lengths of ``content_hashes`` and ``phashes`` differ, a content
            hash is empty or not a string, ``phashes`` is not uint64, or ``max_distance``
            is outside [0, hash bits].
    """
    words = _as_words(phashes)
    hashes = list(content_hashes)
    if len(hashes) != len(words):
        raise ValueError(
            f"content_hashes has {len(hashes)} entries but phashes has {len(words)} rows; they must match."
        )
    for i, h in enumerate(hashes):
        if not isinstance(h, str) or not h:
            raise ValueError(f"content_hashes[{i}] must be a non-empty string, got {h!r}.")
    n_bits = words.shape[1] * 64
    if max_distance is None:
        max_distance = n_bits // DISTANCE_DIVISOR
    max_distance = check_int("max_distance", max_distance, 0, n_bits)
    chunk_elements = check_int("chunk_elements", chunk_elements, 1)

    codes, _ = pd.factorize(pd.Series(hashes, dtype=object))
    exact_a: list[int] = []
    exact_b: list[int] = []
    by_hash = np.argsort(codes, kind="stable")
    for members in np.split(by_hash, np.flatnonzero(np.diff(codes[by_hash])) + 1):
        for a, b in itertools.combinations(members.tolist(), 2):  # stable sort: members ascend
            exact_a.append(a)
            exact_b.append(b)
    exact_a_arr, exact_b_arr = np.asarray(exact_a, np.int64), np.asarray(exact_b, np.int64)

    near_a, near_b, near_d = _near_candidates(words, max_distance, chunk_elements)
    not_exact = codes[near_a] != codes[near_b]
    table = pd.DataFrame(
        {
            "row_a": np.concatenate([exact_a_arr, near_a[not_exact]]),
            "row_b": np.concatenate([exact_b_arr, near_b[not_exact]]),
            "kind": np.array(["exact"] * len(exact_a_arr) + ["near"] * int(not_exact.sum()), dtype=object),
            "distance": np.concatenate([hamming(words[exact_a_arr], words[exact_b_arr]), near_d[not_exact]]),
        }
    )
    table = table.astype({"row_a": np.int64, "row_b": np.int64, "distance": np.int64})
    table = table.sort_values(["row_a", "row_b"], kind="stable").reset_index(drop=True)
    table.attrs.update(max_distance=max_distance, hash_bits=n_bits)
    return table


def pair_rows(n: int, pairs: pd.DataFrame | np.ndarray | Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(row_a, row_b)`` int64 arrays of a pair table or an ``(M, 2)`` array, checked against ``n`` rows."""
    n = check_int("n", n, 0)
    if isinstance(pairs, pd.DataFrame):
        missing = {"row_a", "row_b"} - set(pairs.columns)
        if missing:
            raise ValueError(f"pairs lacks the column(s) {sorted(missing)}; expected the table of find_duplicates.")
        rows = pairs[["row_a", "row_b"]].to_numpy()
    else:
        rows = np.asarray(pairs)
        if rows.size == 0:
            rows = rows.reshape(0, 2)
        if rows.ndim != 2 or rows.shape[1] != 2:
            raise ValueError(f"pairs must be a DataFrame with row_a, row_b or an (M, 2) array, got shape {rows.shape}.")
    if len(rows) and not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"pairs must hold integer row numbers, got dtype {rows.dtype}.")
    rows = rows.astype(np.int64)
    bad = (rows < 0) | (rows >= n)
    if bad.any():
        raise ValueError(f"pairs name row {int(rows[bad][0])}, outside [0, {n}) for n={n}.")
    return rows[:, 0], rows[:, 1]


def duplicate_groups(n: int, pairs: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Group id of each of ``n`` rows, by complete linkage: every two members of a group are a pair.

    Pairs are taken closest first (exact, then by ``distance`` when the table has it, else
    in order); a pair joins its two groups only when every row of one is a pair with every
    row of the other. A chain a ~ b ~ c with a ≁ c thus gives {a, b} and {c}, never
    {a, b, c}: no image is called a copy of one it is not close to.

    Ids run from 0, numbered in the order of each group's first row; a row in no pair is
    a group of its own.

    Raises:
        ValueError: ``pairs`` names a row outside ``[0, n)``.
    """
    row_a, row_b = pair_rows(n, pairs)
    order = np.arange(len(row_a))
    if isinstance(pairs, pd.DataFrame) and {"kind", "distance"} <= set(pairs.columns) and len(pairs):
        exact_last = (pairs["kind"].to_numpy() != "exact").astype(np.int64)
        order = np.lexsort((row_b, row_a, pairs["distance"].to_numpy(), exact_last))
    linked = {(int(a), int(b)) for a, b in zip(row_a, row_b)} | {(int(b), int(a)) for a, b in zip(row_a, row_b)}
    group = np.arange(n, dtype=np.int64)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for k in order:
        ga, gb = group[row_a[k]], group[row_b[k]]
        if ga == gb or not all((x, y) in linked for x in members[ga] for y in members[gb]):
            continue
        keep, gone = min(ga, gb), max(ga, gb)
        members[keep] += members.pop(gone)
        group[members[keep]] = keep
    _, first_row, inverse = np.unique(group, return_index=True, return_inverse=True)
    rank = np.empty(len(first_row), np.int64)
    rank[np.argsort(first_row)] = np.arange(len(first_row))
    return rank[inverse.ravel()]


def dedupe_rows(
    n: int, pairs: pd.DataFrame | np.ndarray, order: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Rows to keep: the first row of each duplicate group in ``order``, and every other row.

    Groups are complete-linkage (:func:`duplicate_groups`), so every row dropped is a pair
    with the row kept in its place.

    Args:
        n: Number of rows.
        pairs: Duplicate pairs (:func:`find_duplicates`; filter by ``kind`` first to
            dedupe only exact copies).
        order: A permutation of ``range(n)``, most preferred row first (e.g. rows of a
            trusted source first); defaults to row order.

    Returns:
        Sorted row numbers to keep (int64), exactly one per group.

    Raises:
        ValueError: ``pairs`` names a row outside ``[0, n)`` or ``order`` is not a
            permutation of ``range(n)``.
    """
    groups = duplicate_groups(n, pairs)
    if order is None:
        ranked = np.arange(n)
    else:
        ranked = np.asarray(order)
        if (
            ranked.shape != (n,)
            or (n and not np.issubdtype(ranked.dtype, np.integer))
            or not np.array_equal(np.sort(ranked), np.arange(n))
        ):
            raise ValueError(f"order must be a permutation of range({n}), got {ranked!r:.200}.")
    _, first = np.unique(groups[ranked], return_index=True)
    return np.sort(ranked[first]).astype(np.int64)
