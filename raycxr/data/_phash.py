"""Perceptual hashes of image files, taken at one fixed audit resolution and cached by file content.

The leakage audit must not depend on the resolution a model trains at: decoded at 64 px
(nearest), a 1-px shifted copy of a 256-px image is as far from its source as a different
radiograph. So each file is decoded by :func:`~raycxr.data.read_image` at
:data:`AUDIT_SIZE` px (bilinear) whatever ``image_size`` is, hashed, and the hash is cached
under its file's SHA-256 (which the split manifest already holds): a second audit of the same
files decodes nothing.

Why a 48 × 48 pHash (2304 bits) and not imagehash's 8 × 8 or the 16 × 16 used before:
chest radiographs share their anatomy, so the lowest DCT frequencies barely tell two
patients apart. Measured on 2000 distinct synthetic phantoms (299 px) against 60 planted
copies of each kind (``benchmarks/leakage_audit.py`` repeats this at 21,000 images):

=========  ====================  =======================  ==========================
hash bits  distinct, min (bits)  1-px shift, max (bits)   JPEG q75 / +10 grey, max
=========  ====================  =======================  ==========================
256 (16²)  9–12                  22                       6 / 2
1024 (32²) 96                    72                       18 / 12
2304 (48²) 366                   214                      64 / 32
4096 (64²) 892                   482                      172 / 68
=========  ====================  =======================  ==========================

Only from 32² on are distinct images farther apart than shifted copies; 48² has the widest
relative margin for a hash half the size of 64². At 21,165 images the closest distinct pair
is 256 bits apart and 99 % of 1-px shifted copies are within 258 (see
:func:`~raycxr.data.find_duplicates` for the default threshold).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from raycxr.data._io import read_image
from raycxr.data._resize import Interpolation, Resize

#: Side, in pixels, every image is decoded at for the audit (whatever the training size).
AUDIT_SIZE = 256
#: Resampling of the audit decode: bilinear, so that a 1-px shift moves every pixel a little
#: instead of swapping which source pixels nearest-neighbour sampling picks.
AUDIT_INTERPOLATION: Interpolation = "bilinear"
#: The audit compares whole images, whatever the training's resize policy: stretched, so that
#: every pixel of a non-square file is in its hash (and hashes cached before the policy stay valid).
AUDIT_RESIZE: Resize = "stretch"
#: pHash side: 48 × 48 = 2304 bits (see the module docstring for why).
DEFAULT_HASH_SIZE = 48
_CACHE_VERSION = "1"

_M1, _M2, _M4, _H01 = (
    np.uint64(v) for v in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101)
)


def check_int(name: str, value: object, low: int, high: float = float("inf")) -> int:
    """``value`` as an int, or a ValueError naming ``name`` when it is no integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        bounds = f"[{low}, {high}]" if high != float("inf") else f">= {low}"
        raise ValueError(f"{name} must be an integer {'in ' if high != float('inf') else ''}{bounds}, got {value!r}.")
    return int(value)


def _popcount_swar(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (SWAR), for numpy < 2.0 which lacks ``np.bitwise_count``."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return ((x * _H01) >> np.uint64(56)).astype(np.uint8)


popcount = getattr(np, "bitwise_count", _popcount_swar)


def hamming(words_a: np.ndarray, words_b: np.ndarray) -> np.ndarray:
    """Hamming distance between rows of two ``(M, W)`` uint64 word arrays."""
    return popcount(words_a ^ words_b).astype(np.int64).sum(axis=-1)


def _words(n_bits: int) -> int:
    return -(-n_bits // 64)


def _phash_one(image: np.ndarray, hash_size: int) -> np.ndarray:
    import imagehash
    from PIL import Image

    n_bits = hash_size**2
    bits = imagehash.phash(Image.fromarray(image), hash_size=hash_size).hash.ravel()
    packed = np.zeros(_words(n_bits) * 8, dtype=np.uint8)
    packed[: -(-n_bits // 8)] = np.packbits(bits)
    return packed.view(">u8").astype(np.uint64)


def perceptual_hashes(images: np.ndarray, hash_size: int = DEFAULT_HASH_SIZE) -> np.ndarray:
    """pHash (``imagehash.phash``) of each decoded image, packed into uint64 words.

    For an audit of files use :func:`file_phashes`, which decodes at :data:`AUDIT_SIZE`
    and caches; this is the hash of arrays already in memory.

    Args:
        images: ``(N, S, S)`` uint8 array.
        hash_size: Side of the kept block of low DCT frequencies; the hash has
            ``hash_size²`` bits.

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
    hash_size = check_int("hash_size", hash_size, 2, 64)
    out = np.zeros((len(images), _words(hash_size**2)), dtype=np.uint64)

    def one(i: int) -> None:
        out[i] = _phash_one(images[i], hash_size)

    # PIL's resize and scipy's DCT release the GIL, so threads help.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(one, range(len(images))))
    return out


def _store_path(cache_dir: Path, size: int, hash_size: int) -> Path:
    return cache_dir / "phash" / f"v{_CACHE_VERSION}-{size}px-{AUDIT_INTERPOLATION}-h{hash_size}.npz"


def _load_store(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as stored:
            return dict(zip(stored["sha"].tolist(), stored["words"]))
    except (OSError, ValueError, KeyError):  # a damaged cache is rebuilt, not fatal
        return {}


def file_phashes(
    paths: Sequence[str | Path],
    content_hashes: Sequence[str],
    cache_dir: str | Path | None = None,
    size: int = AUDIT_SIZE,
    hash_size: int = DEFAULT_HASH_SIZE,
    use_cache: bool = True,
) -> np.ndarray:
    """Perceptual hash of each file, decoded at ``size`` px; cached by the file's content hash.

    Args:
        paths: Image files (PNG, JPEG, DICOM: whatever :func:`~raycxr.data.read_image` reads).
        content_hashes: SHA-256 of each file (:func:`~raycxr.data.hash_files`, or the
            manifest's ``sha256`` column): the cache key, so a renamed file is not decoded again.
        cache_dir: Where the hash store lives (``phash/`` under it); defaults to
            :func:`~raycxr.data.default_cache_dir`.
        size: Side the images are decoded at before hashing; keep the default, which
            the default threshold of :func:`~raycxr.data.find_duplicates` is measured at.
        hash_size: pHash side (``hash_size²`` bits).
        use_cache: Read and update the store.

    Returns:
        ``(N, ceil(hash_size² / 64))`` uint64 array, as :func:`perceptual_hashes`.

    Raises:
        ValueError: ``paths`` and ``content_hashes`` differ in length, ``size`` < 32 or
            ``hash_size`` out of [2, 64].
        OSError, ValueError: A file that is not in the cache cannot be read (see
            :func:`~raycxr.data.read_gray`).
    """
    from raycxr.data._cache import default_cache_dir

    paths, hashes = list(paths), list(content_hashes)
    if len(paths) != len(hashes):
        raise ValueError(f"content_hashes has {len(hashes)} entries but paths has {len(paths)}; they must match.")
    size = check_int("size", size, 32)
    hash_size = check_int("hash_size", hash_size, 2, 64)
    store_file = _store_path(Path(cache_dir or default_cache_dir()), size, hash_size) if use_cache else None
    store = _load_store(store_file) if store_file is not None else {}
    out = np.zeros((len(paths), _words(hash_size**2)), dtype=np.uint64)
    missing = []
    for i, sha in enumerate(hashes):
        if sha in store:
            out[i] = store[sha]
        else:
            missing.append(i)

    def one(i: int) -> None:  # decode and hash one file at a time: never all images in memory
        out[i] = _phash_one(read_image(paths[i], size, AUDIT_INTERPOLATION, AUDIT_RESIZE), hash_size)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(one, missing))
    if store_file is not None and missing:
        store.update({hashes[i]: out[i] for i in missing})
        store_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = store_file.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, sha=np.asarray(list(store), dtype=str), words=np.stack(list(store.values())))
        tmp.replace(store_file)  # atomic: a concurrent audit never reads a partial store
    return out
