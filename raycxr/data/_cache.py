"""Decode a dataset once into a uint8 array cached on disk, reused by every later run."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from raycxr.data._index import DatasetIndex
from raycxr.data._io import read_image
from raycxr.data._resize import DEFAULT_RESIZE, Interpolation, Resize, check_resize

_FORMAT_VERSION = "2"  # 2: DICOM windowing and Modality LUT


class BadImagesError(ValueError):
    """Some images could not be decoded; ``bad`` maps each path to its error."""

    def __init__(self, bad: dict[str, str]) -> None:
        self.bad = bad
        listing = "\n".join(f"  {path}: {error}" for path, error in bad.items())
        super().__init__(f"{len(bad)} image(s) could not be read (use --skip-bad to skip them):\n{listing}")


@dataclasses.dataclass(frozen=True)
class DecodedImages:
    """Decoded images of an index, row-aligned with ``index``.

    Attributes:
        index: The images that decoded (``bad`` ones removed).
        images: ``(len(index), size, size)`` uint8 array (each image brought to the square by the resize policy).
        bad: Path → error message of every file that was skipped.
        from_cache: Whether ``images`` was read from the cache rather than decoded.
        cache_file: Where the array is stored, or ``None`` when caching is off.
    """

    index: DatasetIndex
    images: np.ndarray
    bad: dict[str, str]
    from_cache: bool
    cache_file: Path | None


def default_cache_dir() -> Path:
    """``$RAYCXR_CACHE``, else ``$XDG_CACHE_HOME/raycxr``, else ``~/.cache/raycxr``."""
    if "RAYCXR_CACHE" in os.environ:
        return Path(os.environ["RAYCXR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "raycxr"


def cache_key(index: DatasetIndex, size: int, interpolation: Interpolation, resize: Resize = DEFAULT_RESIZE) -> str:
    """A digest of every file's path, size and modification time, and the decode settings.

    Any added, removed, renamed or rewritten file gives a new key, so a stale array is
    never reused; so does another size, filter or resize policy. (Arrays cached before the
    policy existed were stretched; no key made now matches theirs, so they are never reused.)
    """
    digest = hashlib.sha256(f"{_FORMAT_VERSION}|{size}|{interpolation}|{resize}".encode())
    for path in index.paths:
        stat = path.stat() if path.exists() else None
        signature = f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "missing"
        digest.update(f"\n{path}|{signature}".encode())
    return digest.hexdigest()[:32]


def _decode_all(
    index: DatasetIndex, size: int, interpolation: Interpolation, resize: Resize
) -> tuple[np.ndarray, dict[str, str]]:
    images = np.zeros((len(index), size, size), dtype=np.uint8)
    bad: dict[str, str] = {}

    def decode(i: int) -> None:
        try:
            images[i] = read_image(index.paths[i], size, interpolation, resize)
        except Exception as error:  # noqa: BLE001 - every failure is reported per file
            bad[str(index.paths[i])] = f"{type(error).__name__}: {error}"

    # PIL and zlib release the GIL while decoding, so threads scale across cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(decode, range(len(index))))
    return images, dict(sorted(bad.items()))


def decode_dataset(
    index: DatasetIndex,
    size: int,
    interpolation: Interpolation = "nearest",
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
    use_cache: bool = True,
    resize: Resize = DEFAULT_RESIZE,
) -> DecodedImages:
    """Decode and resize every image of ``index``, or load the cached result.

    Args:
        index: The images to decode.
        size: Side length in pixels of the square output.
        interpolation: Resampling used for resizing (the paper uses nearest).
        cache_dir: Where cached arrays live; defaults to :func:`default_cache_dir`.
        skip_bad: Drop undecodable images (reported in ``bad``) instead of failing.
        use_cache: Read and write the on-disk cache.
        resize: How a non-square image becomes a square: ``"pad"``, ``"crop"`` or ``"stretch"``
            (see :func:`~raycxr.data.read_image`); part of the cache key.

    Raises:
        ValueError: ``resize`` or ``interpolation`` is unknown.
        BadImagesError: Some images failed to decode and ``skip_bad`` is false; the
            message lists every such file.
    """
    check_resize(resize, interpolation)
    key = cache_key(index, size, interpolation, resize)
    cache_file = Path(cache_dir or default_cache_dir()) / f"{key}.npz" if use_cache else None
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file) as stored:
            keep = stored["keep"]
            bad = dict(zip(stored["bad_paths"].tolist(), stored["bad_errors"].tolist()))
            images = stored["images"]
        from_cache = True
    else:
        images, bad = _decode_all(index, size, interpolation, resize)
        keep = np.array([str(p) not in bad for p in index.paths], dtype=bool)
        images = images[keep]
        from_cache = False
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                images=images,
                keep=keep,
                bad_paths=np.asarray(list(bad), dtype=str),
                bad_errors=np.asarray(list(bad.values()), dtype=str),
            )
            tmp.replace(cache_file)  # atomic: concurrent runs never read a partial file
    if bad and not skip_bad:
        raise BadImagesError(bad)
    return DecodedImages(index.subset(keep), images, bad, from_cache, cache_file)
