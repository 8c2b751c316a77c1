"""Decode a dataset into a memory-mapped uint8 ``.npy`` store on disk: data beyond memory.

The in-memory path (:func:`~raycxr.data.decode_dataset`) holds the whole ``(N, S, S)`` array
in RAM. When it does not fit, the same images are decoded chunk by chunk straight into
``CACHE/<cache_key>.npy`` (``np.lib.format.open_memmap``), and readers open it with
``np.load(path, mmap_mode="r")``: the operating system pages rows in on demand and keeps the
hot ones in its page cache, shared by every process on the machine. A memmap is an ndarray,
so everything that gathers rows (``batches``, the frozen-prefix cache, evaluation) takes it
unchanged.

Why numpy memmap rather than Ray Data's streaming ``iter_torch_batches``: the training loop
indexes rows, not a stream. Each epoch draws a seeded permutation of the training rows
(``DistributedSampler`` shards it across workers), validation gathers the validation rows,
the frozen-prefix cache gathers train + validation rows once, and CV / nested CV select row
subsets of one array. A memmap keeps every one of those bit-identical to the in-memory path
(the same rows in the same order, the same seed), with no second data path; Ray Data would
shuffle by its own (block-local or all-to-all) scheme, re-read or re-shuffle blocks each
epoch, and need every consumer rewritten around a stream. Measured on the 2-core development
machine (``benchmarks/beyond_memory.py --n 480 --ray-data``): gathering shuffled batches from
the memmap store ran at 0.98 of the in-memory rate (training: 0.97), Ray Data's
``iter_torch_batches`` over the same store at 0.02 (its per-epoch start-up dominates there).

A store is complete only once it has its final name: chunks are written into
``<key>.<pid>.partial.npy``, the bad-image record ``<key>.json`` is written next, and the
partial file is renamed last (atomic), so a killed decode is never read as complete.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from raycxr.data._cache import BadImagesError, DecodedImages, cache_key, default_cache_dir
from raycxr.data._index import DatasetIndex
from raycxr.data._io import read_image
from raycxr.data._resize import DEFAULT_RESIZE, Interpolation, Resize, check_resize

#: Rows decoded by one task.
CHUNK_ROWS = 512

#: ``(store path, image paths, first row, size, interpolation, resize)`` of one chunk.
Chunk = tuple[str, list[str], int, int, Interpolation, Resize]
#: Runs chunks (e.g. as Ray tasks) and yields each one's bad images as it completes.
ChunkRunner = Callable[[Sequence[Chunk]], Iterable[dict[str, str]]]


def decode_chunk(store: str, paths: list[str], start: int, size: int, interpolation: Interpolation,
                 resize: Resize) -> dict[str, str]:  # fmt: skip
    """Decode ``paths`` into rows ``start…`` of the ``.npy`` at ``store``; path → error of each bad image."""
    images = np.load(store, mmap_mode="r+")
    bad = {}
    for i, path in enumerate(paths):
        try:
            images[start + i] = read_image(Path(path), size, interpolation, resize)
        except Exception as error:  # noqa: BLE001 - every failure is reported per file
            bad[path] = f"{type(error).__name__}: {error}"
    images.flush()
    return bad


def run_in_threads(chunks: Sequence[Chunk]) -> Iterable[dict[str, str]]:
    """The runner used without Ray: a thread per core (PIL and zlib release the GIL)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done in as_completed([pool.submit(decode_chunk, *chunk) for chunk in chunks]):
            yield done.result()


def store_file(cache_dir: str | Path | None, key: str) -> Path:
    """Where the memory-mapped store of ``key`` lives."""
    return Path(cache_dir or default_cache_dir()) / f"{key}.npy"


def open_store(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The store at ``path``, memory-mapped read-only.

    Raises:
        ValueError: The file is missing, truncated or of another shape (one line naming it).
    """
    path = Path(path)
    where = "on this machine; every node needs the cache directory on storage it can read (cache_dir)"
    if not path.is_file():
        raise ValueError(f"image store {path} does not exist {where}.")
    try:
        images = np.load(path, mmap_mode="r")
    except ValueError as error:
        raise ValueError(f"image store {path} is incomplete ({error}); remove it to decode again.") from None
    if shape is not None and images.shape != tuple(shape):
        raise ValueError(f"image store {path} has shape {images.shape}, expected {tuple(shape)}; remove it.")
    return images


def _progress(done: int, total: int, last: int) -> int:
    """Print a line each time another 10 % of the rows is decoded; the tenths printed."""
    tenths = done * 10 // max(total, 1)
    if tenths > last:
        print(f"  decoding to memory-mapped store: {done}/{total} images ({tenths * 10} %)", file=sys.stderr,
              flush=True)  # fmt: skip
    return max(tenths, last)


def _compact(partial: Path, keep: np.ndarray, target: Path) -> None:
    """Copy the kept rows of ``partial`` into a new store at ``target``, a chunk at a time."""
    source = np.load(partial, mmap_mode="r")
    out = np.lib.format.open_memmap(target, mode="w+", dtype=np.uint8, shape=(int(keep.sum()), *source.shape[1:]))
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), CHUNK_ROWS):
        out[start : start + CHUNK_ROWS] = source[rows[start : start + CHUNK_ROWS]]
    out.flush()
    del out


def _decode_into(index: DatasetIndex, size: int, interpolation: Interpolation, resize: Resize, partial: Path,
                 run: ChunkRunner) -> dict[str, str]:  # fmt: skip
    images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(len(index), size, size))
    del images  # the header and the file's length are written; the chunks open it themselves
    paths = [str(p) for p in index.paths]
    chunks = [
        (str(partial), paths[start : start + CHUNK_ROWS], start, size, interpolation, resize)
        for start in range(0, len(paths), CHUNK_ROWS)
    ]
    bad: dict[str, str] = {}
    last = 0
    for done, chunk_bad in enumerate(run(chunks), 1):  # in the order chunks complete
        bad |= chunk_bad
        last = _progress(min(done * CHUNK_ROWS, len(paths)), len(paths), last)
    return dict(sorted(bad.items()))


def decode_to_store(
    index: DatasetIndex,
    size: int,
    interpolation: Interpolation = "nearest",
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
    resize: Resize = DEFAULT_RESIZE,
    run: ChunkRunner = run_in_threads,
) -> DecodedImages:
    """Like :func:`~raycxr.data.decode_dataset`, into a memory-mapped store on disk.

    The images are the same bytes as the in-memory path's; ``images`` of the result is the
    store opened read-only (``cache_file``). Bad images are handled the same way.

    Args:
        run: Runs the chunks of the decode (threads by default; the run layer passes Ray tasks).

    Raises:
        ValueError: ``resize`` or ``interpolation`` is unknown.
        BadImagesError: Some images failed to decode and ``skip_bad`` is false.
    """
    check_resize(resize, interpolation)
    key = cache_key(index, size, interpolation, resize)
    path = store_file(cache_dir, key)
    record = path.with_suffix(".json")
    from_cache = path.is_file() and record.is_file()
    if not from_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{key}.{os.getpid()}.partial.npy")
        try:
            bad = _decode_into(index, size, interpolation, resize, partial, run)
            keep = np.array([str(p) not in bad for p in index.paths], dtype=bool)
            if bad:
                compacted = path.with_name(f"{key}.{os.getpid()}.compact.npy")
                _compact(partial, keep, compacted)
                compacted.replace(partial)
            tmp = record.with_name(f"{key}.{os.getpid()}.tmp.json")
            tmp.write_text(json.dumps({"keep": keep.tolist(), "bad": bad}))
            tmp.replace(record)
            partial.replace(path)  # last: only now is the store complete
        finally:
            partial.unlink(missing_ok=True)
    stored = json.loads(record.read_text())
    keep, bad = np.asarray(stored["keep"], dtype=bool), stored["bad"]
    if len(keep) != len(index):
        raise ValueError(f"image store {path} does not match its record {record}; remove both.")
    images = open_store(path, (int(keep.sum()), size, size))
    if bad and not skip_bad:
        raise BadImagesError(bad)
    return DecodedImages(index.subset(keep), images, bad, from_cache, path)
