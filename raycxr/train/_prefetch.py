"""Gather the next batch in a background thread while the current one trains.

From a memory-mapped store a gather can wait on page faults (disk reads); from host memory it
is a copy. Either way torch's indexing releases the GIL, so one thread hides it behind the
model's step. Only the gathers run in the thread: the batch order is drawn before, in the
caller's thread, so the random state and the batches are exactly those without prefetching.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch


def gathered(source: torch.Tensor, indices: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    """``source[i]`` for each index tensor ``i`` in order (``source`` in host memory), one gather ahead in a thread."""

    def take(index: torch.Tensor) -> torch.Tensor:
        return source[index]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="raycxr-prefetch") as pool:
        pending: Future | None = pool.submit(take, indices[0]) if len(indices) else None
        for k in range(len(indices)):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(take, indices[k + 1]) if k + 1 < len(indices) else None
            yield batch
