"""Leakage audit: exact and near-duplicate images within and across dev/test and folds.

Public COVID chest X-ray collections are merged from several sources and carry the same
radiograph more than once, byte-identical or re-encoded, resized or slightly shifted. A
duplicate with one copy among the training rows and another among the test rows leaks.

* Exact duplicates share a file content hash (e.g. :func:`~raycxr.data.hash_files`, sha256).
* Near duplicates have perceptual hashes (:func:`perceptual_hashes`, imagehash's pHash of
  the decoded image) within ``max_distance`` bits of each other.

:func:`find_duplicates` lists the pairs, :func:`duplicate_groups` joins them into groups,
:func:`audit` counts them within and across roles (``dev``/``test``, ``fold0``…) and
:func:`dedupe_rows` keeps one image of each group.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._index import DatasetIndex

#: pHash side: 16 × 16 = 256 bits (see :func:`perceptual_hashes` for why not 8 × 8).
DEFAULT_HASH_SIZE = 16
#: ``max_distance=None`` means ``hash bits // DISTANCE_DIVISOR``: 16 of 256 bits, 4 of 64.
DISTANCE_DIVISOR = 16
#: Columns of the pair table returned by :func:`find_duplicates`.
PAIR_COLUMNS = ("row_a", "row_b", "kind", "distance")
KINDS = ("exact", "near")

_M1, _M2, _M4, _H01 = (
    np.uint64(v) for v in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101)
)


def _check_int(name: str, value: object, low: int, high: float = float("inf")) -> int:
    """``value`` as an int, or a ValueError naming ``name`` when it is no integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        bounds = f"[{low}, {high}]" if high != float("inf") else f">= {low}"
        raise ValueError(f"{name} must be an integer {'in ' if high != float('inf') else ''}{bounds}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- hashing


def perceptual_hashes(images: np.ndarray, hash_size: int = DEFAULT_HASH_SIZE) -> np.ndarray:
    """pHash (``imagehash.phash``) of each decoded image, packed into uint64 words.

    Args:
        images: ``(N, S, S)`` uint8 array, e.g. ``decode_dataset(...).images``. Decode at
            (about) the dataset's own resolution, 256–299 px for the Kaggle set, which
            the numbers here and the default ``max_distance`` of :func:`find_duplicates`
            are measured at; at 64 px nearest-neighbour decoding alone moves a resized
            copy up to 22 bits.
        hash_size: Side of the kept block of low DCT frequencies; the hash has
            ``hash_size²`` bits. imagehash's own default is 8 (64 bits), but on chest
            radiographs, which all share the same anatomy and near left-right symmetry,
            64 bits do not tell images apart: among 600 distinct synthetic phantoms
            (256 px) the closest pairs are 0 bits apart and 1680 pairs are within 4 bits,
            as close as a JPEG re-encode (≤ 2 bits). At 16 (256 bits) distinct phantoms
            are ≥ 22 bits apart in a set of 120 (≥ 10 in 600; 0.01 % of pairs ≤ 16) while
            re-encoded and resized copies stay ≤ 6 bits away.

    Returns:
        ``(N, ceil(hash_size² / 64))`` uint64 array; row ``i`` is image ``i``'s hash, bits
        in imagehash's order, most significant first (for ``hash_size=8``,
        ``f"{h[i, 0]:016x}" == str(imagehash.phash(...))``), unused low bits zero.

    Raises:
        ValueError: ``images`` is not a 3-D uint8 array or ``hash_size`` is not an integer
            in [2, 64].
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be an (N, S, S) uint8 array, got shape {images.shape} and dtype {images.dtype}.")
    hash_size = _check_int("hash_size", hash_size, 2, 64)
    import imagehash
    from PIL import Image

    n_bits = hash_size**2
    n_words = -(-n_bits // 64)
    out = np.zeros((len(images), n_words), dtype=np.uint64)

    def one(i: int) -> None:
        bits = imagehash.phash(Image.fromarray(images[i]), hash_size=hash_size).hash.ravel()
        packed = np.zeros(n_words * 8, dtype=np.uint8)
        packed[: -(-n_bits // 8)] = np.packbits(bits)
        out[i] = packed.view(">u8")

    # PIL's resize releases the GIL, so threads help.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(one, range(len(images))))
    return out


# --------------------------------------------------------------------------- pair search


def _popcount_swar(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (SWAR), for numpy < 2.0 which lacks ``np.bitwise_count``."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return ((x * _H01) >> np.uint64(56)).astype(np.uint8)


_popcount = getattr(np, "bitwise_count", _popcount_swar)


def _as_words(phashes: np.ndarray) -> np.ndarray:
    words = np.asarray(phashes)
    if words.dtype != np.uint64 or words.ndim not in (1, 2):
        raise ValueError(f"phashes must be a 1-D or 2-D uint64 array, got shape {words.shape} and dtype {words.dtype}.")
    return np.ascontiguousarray(words[:, None] if words.ndim == 1 else words)


def _hamming(words_a: np.ndarray, words_b: np.ndarray) -> np.ndarray:
    """Hamming distance between rows of two ``(M, W)`` uint64 word arrays."""
    return _popcount(words_a ^ words_b).astype(np.int64).sum(axis=-1)


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
            :func:`perceptual_hashes` (``(N, W)`` uint64; a 1-D ``(N,)`` array is 64-bit
            hashes).
        max_distance: Largest Hamming distance, in bits, of a near-duplicate pair. ``None``
            (default) is a sixteenth of the hash bits: 16 for the default 256-bit hash (4
            for 64-bit). Measured on synthetic phantoms at 256 px with the 256-bit hash:
            resized (256→320→256 px) and JPEG (quality 75) copies ≤ 6 bits from their
            source, copies shifted 1 px vertically ≤ 16 (horizontally: 95 % ≤ 16, max 26;
            2 px: up to 40); distinct phantoms ≥ 22 bits apart among 120, ≥ 10 among 600
            with 0.01 % of pairs ≤ 16 and 0.1 % ≤ 24. 16 keeps a ≥ 10-bit margin above
            re-encodes and resizes and still catches 1-px shifts, at the price of an
            occasional false pair between very similar distinct images, which the pair
            list lets a person review. Real radiographs differ more than the phantoms.
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
    max_distance = _check_int("max_distance", max_distance, 0, n_bits)
    chunk_elements = _check_int("chunk_elements", chunk_elements, 1)

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
            "distance": np.concatenate([_hamming(words[exact_a_arr], words[exact_b_arr]), near_d[not_exact]]),
        }
    )
    table = table.astype({"row_a": np.int64, "row_b": np.int64, "distance": np.int64})
    table = table.sort_values(["row_a", "row_b"], kind="stable").reset_index(drop=True)
    table.attrs.update(max_distance=max_distance, hash_bits=n_bits)
    return table


# --------------------------------------------------------------------------- groups


def _pair_rows(n: int, pairs: pd.DataFrame | np.ndarray | Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    n = _check_int("n", n, 0)
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
    """Group id of each of ``n`` rows: rows joined by a chain of pairs share one.

    Ids run from 0, numbered in the order of each group's first row; a row in no pair is
    a group of its own.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    row_a, row_b = _pair_rows(n, pairs)
    if n == 0:
        return np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(row_a), np.int8), (row_a, row_b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first_row, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first_row), np.int64)
    rank[np.argsort(first_row)] = np.arange(len(first_row))
    return rank[inverse.ravel()]


def dedupe_rows(
    n: int, pairs: pd.DataFrame | np.ndarray, order: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Rows to keep: the first row of each duplicate group in ``order``, and every other row.

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


# --------------------------------------------------------------------------- audit


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
        groups: Duplicate group id of each row (:func:`duplicate_groups`).
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
        """The pairs as a readable table: files relative to ``root``, classes, roles.

        Columns ``file_a, file_b, class_a, class_b, role_a, role_b, kind, distance``;
        pairs across roles first, then exact before near, closest first.

        Raises:
            ValueError: ``index`` does not have one row per audited row.
        """
        if len(index) != len(self.roles):
            raise ValueError(
                f"index has {len(index)} rows but the audit covers {len(self.roles)}; pass the audited index."
            )
        base = Path(root).expanduser().resolve()
        rel = [Path(os.path.relpath(Path(p).resolve(), base)).as_posix() for p in index.paths]
        classes = np.asarray(index.classes, dtype=object)[index.labels]
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
            f"({threshold}) in {dup_groups} group(s) holding {int(sizes[sizes > 1].sum())} images; "
            f"keeping one image per group would drop {int((sizes[sizes > 1] - 1).sum())}."
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
    row_a, row_b = _pair_rows(len(roles), pairs)
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
