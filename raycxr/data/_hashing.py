"""Content hashes of dataset files (SHA-256), computed on a thread pool."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from raycxr.data._index import DatasetIndex
from raycxr.data._listing import listing

_CHUNK = 1 << 20


def content_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(paths: Iterable[str | Path], workers: int | None = None) -> list[str]:
    """:func:`content_hash` of every path, in order, on a thread pool.

    hashlib and file reads release the GIL, so threads use every core and overlap I/O.

    Raises:
        ValueError: Some files could not be read; names up to five of them.
    """
    paths = list(paths)
    failed: dict[int, str] = {}

    def one(i: int) -> str:
        try:
            return content_hash(paths[i])
        except OSError as error:
            failed[i] = f"{paths[i]} ({error.strerror or type(error).__name__})"
            return ""

    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(one, range(len(paths))))
    if failed:
        raise ValueError(f"{len(failed)} file(s) could not be read: {listing([failed[i] for i in sorted(failed)])}")
    return digests


def hash_index(index: DatasetIndex, workers: int | None = None) -> list[str]:
    """SHA-256 of every image of ``index``, row-aligned with ``index.paths``."""
    return hash_files(index.paths, workers)
