"""The driver skeleton every command shares: connect to Ray, size runs to it, check storage, clean up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import ray

from raycxr.run._cluster import check_shared_storage, cluster_concurrency, start_ray
from raycxr.run._scaling import Scaling


@contextlib.contextmanager
def ray_session(
    address: str | None,
    scaling: Scaling,
    max_concurrent: int | None = None,
    shared_folder: Path | None = None,
    option: str = "--storage",
    quiet: bool = False,
) -> Iterator[int]:
    """Start (or attach to) Ray and yield how many runs of ``scaling`` go at once.

    Checks, before anything is trained, that the cluster can hold a run and that every
    node sees ``shared_folder`` (a local storage folder). A Ray this call started is shut
    down at the end; ``quiet``: without the INFO lines of Ray's start-up.

    Raises:
        ValueError: Nothing answers at ``address``, a run larger than the cluster, or a
            folder some node cannot see.
    """
    started = start_ray(address, quiet)
    try:
        concurrency = cluster_concurrency(scaling)
        if shared_folder is not None:
            check_shared_storage(shared_folder, option)
        yield min(concurrency, max_concurrent) if max_concurrent else concurrency
    finally:
        if started:
            ray.shutdown()
