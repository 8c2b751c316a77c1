from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from raycxr.data import BadImagesError, decode_dataset, index_folder, read_image


@pytest.fixture
def dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny dataset."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "cxr"))


def test_decodes_every_image_in_index_order(dataset: Path, tmp_path: Path) -> None:
    index = index_folder(dataset)
    decoded = decode_dataset(index, 48, cache_dir=tmp_path / "c")
    assert decoded.images.shape == (len(index), 48, 48) and decoded.images.dtype == np.uint8
    assert np.array_equal(decoded.images[7], read_image(index.paths[7], 48))
    assert not decoded.from_cache and decoded.cache_file.exists()


def test_reuse_and_invalidation(dataset: Path, tmp_path: Path) -> None:
    index = index_folder(dataset)
    first = decode_dataset(index, 48, cache_dir=tmp_path / "c")
    again = decode_dataset(index_folder(dataset), 48, cache_dir=tmp_path / "c")
    assert again.from_cache and np.array_equal(first.images, again.images)
    # Another size or filter is another entry.
    assert not decode_dataset(index, 40, cache_dir=tmp_path / "c").from_cache
    assert not decode_dataset(index, 48, "bilinear", cache_dir=tmp_path / "c").from_cache
    # Rewriting one file invalidates the cache and the new pixels are used.
    victim = index.paths[3]
    shutil.copy(index.paths[4], victim)
    os.utime(victim, ns=(1, 1))
    changed = decode_dataset(index_folder(dataset), 48, cache_dir=tmp_path / "c")
    assert not changed.from_cache
    assert np.array_equal(changed.images[3], read_image(index.paths[4], 48))


def test_bad_images_listed_or_skipped(dataset: Path, tmp_path: Path) -> None:
    bad = [dataset / "COVID" / "images" / "COVID-2.png", dataset / "Normal" / "images" / "Normal-5.png"]
    bad[0].write_bytes(b"\x89PNG garbage")
    bad[1].write_bytes(b"")
    index = index_folder(dataset)
    with pytest.raises(BadImagesError) as info:
        decode_dataset(index, 48, cache_dir=tmp_path / "c")
    message = str(info.value)
    assert "2 image(s) could not be read" in message and "--skip-bad" in message
    assert all(str(p.resolve()) in message for p in bad)
    skipped = decode_dataset(index, 48, cache_dir=tmp_path / "c", skip_bad=True)
    assert len(skipped.index) == len(index) - 2 == len(skipped.images)
    assert set(skipped.bad) == {str(p.resolve()) for p in bad}
    assert all(p.resolve() not in skipped.index.paths for p in bad)
