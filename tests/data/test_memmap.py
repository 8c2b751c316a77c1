"""The memory-mapped store: the same bytes and bad-image handling as the in-memory cache, never read half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from raycxr.data import BadImagesError, decode_dataset, decode_to_store, index_folder, open_store, run_in_threads


@pytest.fixture
def dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_dataset, tmp_path / "cxr"))


def test_store_holds_the_in_memory_bytes_and_is_reused(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("raycxr.data._memmap.CHUNK_ROWS", 32)  # several chunks
    index = index_folder(dataset)
    memory = decode_dataset(index, 48, cache_dir=tmp_path / "mem")
    stored = decode_to_store(index, 48, cache_dir=tmp_path / "map")
    assert isinstance(stored.images, np.memmap) and not stored.from_cache
    assert stored.cache_file.suffix == ".npy" and not stored.images.flags.writeable
    assert np.array_equal(stored.images, memory.images)
    again = decode_to_store(index_folder(dataset), 48, cache_dir=tmp_path / "map")
    assert again.from_cache and np.array_equal(again.images, memory.images)
    names = sorted(p.name for p in (tmp_path / "map").iterdir())
    assert names == [f"{stored.cache_file.stem}.{suffix}" for suffix in ("json", "npy")]


def test_bad_images_listed_or_skipped_as_in_memory(dataset: Path, tmp_path: Path) -> None:
    bad = [dataset / "COVID" / "images" / "COVID-2.png", dataset / "Normal" / "images" / "Normal-5.png"]
    bad[0].write_bytes(b"\x89PNG garbage")
    bad[1].write_bytes(b"")
    index = index_folder(dataset)
    with pytest.raises(BadImagesError) as in_memory:
        decode_dataset(index, 48, cache_dir=tmp_path / "mem")
    with pytest.raises(BadImagesError) as on_disk:
        decode_to_store(index, 48, cache_dir=tmp_path / "map")
    assert str(on_disk.value) == str(in_memory.value)
    memory = decode_dataset(index, 48, cache_dir=tmp_path / "mem", skip_bad=True)
    stored = decode_to_store(index, 48, cache_dir=tmp_path / "map", skip_bad=True)
    assert stored.from_cache and stored.bad == memory.bad and stored.index.paths == memory.index.paths
    assert stored.images.shape == (len(index) - 2, 48, 48) and np.array_equal(stored.images, memory.images)


def test_interrupted_decode_is_not_reused(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("raycxr.data._memmap.CHUNK_ROWS", 16)
    index = index_folder(dataset)

    def killed(chunks):  # the first chunks land, then the decode dies
        for k, done in enumerate(run_in_threads(chunks)):
            if k == 2:
                raise KeyboardInterrupt
            yield done

    with pytest.raises(KeyboardInterrupt):
        decode_to_store(index, 48, cache_dir=tmp_path / "c", run=killed)
    assert not list((tmp_path / "c").iterdir())  # no store, no record, no partial file
    # A partial file a killed process left behind (another pid) is never taken for the store.
    (tmp_path / "c" / "0.123.partial.npy").write_bytes(b"")
    stored = decode_to_store(index, 48, cache_dir=tmp_path / "c")
    assert not stored.from_cache
    assert np.array_equal(stored.images, decode_dataset(index, 48, use_cache=False).images)


def test_missing_or_truncated_store_is_one_line_naming_the_file(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"image store .*nowhere\.npy does not exist") as info:
        open_store(tmp_path / "nowhere.npy")
    assert "\n" not in str(info.value)
    stored = decode_to_store(index_folder(dataset), 48, cache_dir=tmp_path / "c")
    path = stored.cache_file
    with pytest.raises(ValueError, match="has shape"):
        open_store(path, (3, 48, 48))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"image store {path} is incomplete") as info:
        open_store(path, stored.images.shape)
    assert "\n" not in str(info.value)
