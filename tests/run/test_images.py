"""Data beyond memory: a tiny budget forces the memmap path, which feeds and trains exactly as the in-memory one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from torch.utils.data import DistributedSampler

from raycxr.data import TestSpec
from raycxr.run import ImageStore, create_partition, dev_split, images_at, memory_budget
from raycxr.train import TrainConfig, fit
from raycxr.train._feed import batches

#: Below the tiny dataset at 64 px (120 × 4 KiB), above one batch of 16.
TINY_BUDGET = 0.0002


def _cfg(data: Path, cache: Path, **kwargs) -> TrainConfig:
    base = dict(data=data, image_size=64, folds=3, cache_dir=cache, weights="none", head="gap", lr=1e-3,
                batch_size=16, epochs=2, patience=2, loss="ce", frozen_cache_gb=0)  # fmt: skip
    return TrainConfig(**(base | kwargs)).check()


@pytest.fixture(scope="module")
def partitions(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """The same partition in memory and beyond it (each with its own cache)."""
    out = tmp_path_factory.mktemp("parts")
    made = {}
    for name, budget in (("memory", None), ("memmap", TINY_BUDGET)):
        cfg = _cfg(tiny_dataset, out / f"cache-{name}", memory_budget_gb=budget)
        (out / name).mkdir()
        made[name] = cfg, create_partition(cfg, TestSpec(fraction=0.2, seed=1), out / name)
    return made


def test_budget_rule(tiny_dataset: Path, tmp_path: Path) -> None:
    assert memory_budget(_cfg(tiny_dataset, tmp_path, memory_budget_gb=2)) == 2 * 2**30
    ram = Path("/proc/meminfo").read_text().split()[1]  # kB
    assert memory_budget(_cfg(tiny_dataset, tmp_path)) == pytest.approx(0.15 * int(ram) * 1024, rel=0.01)


def test_memmap_partition_is_the_in_memory_one(partitions) -> None:
    (_, memory), (cfg, memmap) = partitions["memory"], partitions["memmap"]
    assert isinstance(memmap.images, np.memmap) and not isinstance(memory.images, np.memmap)
    assert np.array_equal(memmap.images, memory.images) and memmap.index.paths == memory.index.paths
    assert np.array_equal(memmap.dev, memory.dev) and np.array_equal(memmap.test, memory.test)
    at_48 = images_at(memmap, cfg, 48)  # another size goes the same way
    assert isinstance(at_48, np.memmap) and at_48.shape == (len(memmap.index), 48, 48)
    store = ImageStore.of(memmap.images)  # what a trial receives: a path and a shape, no array
    assert store.ref is None and np.array_equal(store.get(), memory.images)


def test_same_batches_and_same_metrics(partitions) -> None:
    (_, memory), (cfg, memmap) = partitions["memory"], partitions["memmap"]
    rows = dev_split(memmap, cfg).train
    fed = {}
    for name, part in (("memory", memory), ("memmap", memmap)):
        sampler = DistributedSampler(rows, num_replicas=1, rank=0, shuffle=True, seed=7)
        sampler.set_epoch(3)
        fed[name] = list(batches(part.images, part.labels, rows, 16, sampler, torch.device("cpu")))
    assert len(fed["memory"]) == len(fed["memmap"]) == -(-len(rows) // 16)
    for (x, y), (x2, y2) in zip(fed["memory"], fed["memmap"]):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    split = dev_split(memmap, cfg)
    results = [fit(cfg, part.images, part.labels, part.classes, split, None) for part in (memory, memmap)]
    histories = [pd.DataFrame(r.history).drop(columns=["epoch_s", "setup_s"]) for r in results]  # all but the timing
    pd.testing.assert_frame_equal(histories[0], histories[1], check_exact=True)


def test_dedupe_beyond_memory_keeps_a_store(tiny_dataset: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(tiny_dataset, tmp_path / "cxr"))
    source = sorted((data / "Normal" / "images").glob("*.png"))[0]
    shutil.copy(source, source.parent / "Normal-copy.png")
    parts = []
    for name, budget in (("memory", None), ("memmap", TINY_BUDGET)):
        (tmp_path / name).mkdir()
        cfg = _cfg(data, tmp_path / f"cache-{name}", memory_budget_gb=budget)
        parts.append(create_partition(cfg, TestSpec(fraction=0.2, seed=1), tmp_path / name, dedupe=True))
    memory, memmap = parts
    assert len(memmap.index) == len(memory.index) == 120 and isinstance(memmap.images, np.memmap)
    assert np.array_equal(memmap.images, memory.images) and memmap.leakage_summary == memory.leakage_summary


def test_budget_below_one_batch_is_refused(tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_dataset, tmp_path / "cache", memory_budget_gb=1e-5)
    message = r"memory_budget_gb 1e-05 is below one batch of 16 images at 64 px"
    with pytest.raises(ValueError, match=message) as info:  # when the data are decoded, before Ray starts
        create_partition(cfg, TestSpec(fraction=0.2, seed=1), tmp_path)
    assert "\n" not in str(info.value) and not (tmp_path / "cache").exists()
    with pytest.raises(ValidationError, match="greater than 0"):
        _cfg(tiny_dataset, tmp_path, memory_budget_gb=0)
