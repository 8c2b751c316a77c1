"""Where a run's decoded images live: Ray's object store when they fit the memory budget, else a memmap.

The driver decodes the images once per image size (:func:`decode_images`). When they fit the
memory budget (:func:`memory_budget`) they are one in-memory array, put once into Ray's object
store, and every run maps it zero-copy. When they do not, they are decoded by Ray tasks (or
threads, before Ray starts) into a memory-mapped ``.npy`` store in the cache directory
(:func:`raycxr.data.decode_to_store`), and runs open the file instead: the page cache of each
node holds what is read. Either way a run receives an :class:`ImageStore` and calls
:meth:`ImageStore.get`, which returns an ``(N, S, S)`` uint8 ndarray.

The budget rule (``memory_budget_gb`` unset): half the object store of the smallest live Ray
node, leaving the other half for the trials' checkpoints and results; before Ray starts, half
of what Ray's default object store would be on this machine (30 % of its RAM), i.e. 15 % of RAM.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import numpy as np
import ray

from raycxr.data import (
    Chunk,
    DatasetIndex,
    DecodedImages,
    decode_chunk,
    decode_dataset,
    decode_to_store,
    open_store,
    run_in_threads,
)
from raycxr.train import TrainConfig

#: Share of the object store the images may take; the rest is the trials'.
STORE_SHARE = 0.5
#: Ray's default object store: this fraction of the node's RAM.
RAY_STORE_FRACTION = 0.3


def memory_budget(cfg: TrainConfig) -> float:
    """Bytes the decoded images of one size may take in memory (the rule: module docstring)."""
    if cfg.memory_budget_gb is not None:
        return cfg.memory_budget_gb * 2**30
    if ray.is_initialized():
        stores = [n["Resources"].get("object_store_memory", 0) for n in ray.nodes() if n.get("Alive")]
        if stores and min(stores) > 0:
            return STORE_SHARE * min(stores)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return STORE_SHARE * RAY_STORE_FRACTION * ram


def beyond_memory(rows: int, size: int, cfg: TrainConfig) -> bool:
    """Whether ``rows`` images at ``size`` exceed the memory budget (then: the memmap path).

    Raises:
        ValueError: The budget is below one batch of ``cfg.batch_size`` images at ``size`` (one line).
    """
    budget, batch = memory_budget(cfg), cfg.batch_size * size * size
    if budget < batch:
        raise ValueError(
            f"memory_budget_gb {budget / 2**30:g} is below one batch of {cfg.batch_size} images at {size} px "
            f"({batch / 2**30:.2g} GiB)."
        )
    return rows * size * size > budget


@ray.remote(num_cpus=1)
def _decode_task(*chunk: object) -> dict[str, str]:
    return decode_chunk(*chunk)  # type: ignore[arg-type]


def run_in_ray(chunks: list[Chunk]) -> Iterator[dict[str, str]]:
    """Decode chunks as Ray tasks; yields each one's bad images as it completes."""
    pending = [_decode_task.remote(*chunk) for chunk in chunks]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def decode_images(index: DatasetIndex, cfg: TrainConfig, size: int, skip_bad: bool) -> DecodedImages:
    """The images of ``index`` at ``size``: in memory within the budget, else a memmap store.

    Raises:
        ValueError: The memory budget is below one batch.
        BadImagesError: Some images failed to decode and ``skip_bad`` is false.
    """
    args = (index, size, cfg.interpolation, cfg.cache_dir, skip_bad)
    if not beyond_memory(len(index), size, cfg):
        return decode_dataset(*args, resize=cfg.resize)
    print(
        f"{len(index)} images at {size} px ({len(index) * size * size / 2**30:.3g} GiB) exceed the memory budget "
        f"({memory_budget(cfg) / 2**30:.3g} GiB): decoding into a memory-mapped store.",
        flush=True,
    )
    return decode_to_store(*args, resize=cfg.resize, run=run_in_ray if ray.is_initialized() else run_in_threads)


@dataclasses.dataclass(frozen=True)
class ImageStore:
    """A run's handle to the images at one size: an object-store reference or a memmap file.

    Attributes:
        ref: The in-memory array in Ray's object store, or ``None``.
        path: The memory-mapped ``.npy`` store (on storage every node can read), or ``None``.
        shape: ``(N, S, S)``.
    """

    ref: ray.ObjectRef | None
    path: str | None
    shape: tuple[int, ...]

    @classmethod
    def of(cls, images: np.ndarray) -> ImageStore:
        """A memmap's file by name; an in-memory array put into the object store."""
        if isinstance(images, np.memmap) and images.filename is not None:
            return cls(None, str(images.filename), images.shape)
        return cls(ray.put(images), None, images.shape)

    def get(self) -> np.ndarray:
        """The images: a zero-copy view of the object store, or the file memory-mapped read-only.

        Raises:
            ValueError: The memmap store is missing or incomplete on this node (one line naming it).
        """
        if self.ref is not None:
            return ray.get(self.ref)
        assert self.path is not None
        return open_store(self.path, self.shape)
