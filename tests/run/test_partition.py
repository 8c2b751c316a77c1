"""The experiment's partition: made once (audited, optionally de-duplicated), read back only if the data match."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycxr.data import TestSpec
from raycxr.experiment import LEAKAGE_FILE, SPLITS_FILE
from raycxr.run import create_partition, cv_splits, dev_split, load_partition, refit_split
from raycxr.train import TrainConfig


@pytest.fixture
def dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the tiny dataset with one image planted twice more (an exact copy under other names)."""
    data = tmp_path / "cxr"
    shutil.copytree(tiny_dataset, data)
    source = sorted((data / "Normal" / "images").glob("*.png"))[0]
    for name in ("Normal-copy-a.png", "Normal-copy-b.png"):
        shutil.copy(source, source.parent / name)
    return data


def _cfg(data: Path, **kwargs) -> TrainConfig:
    return TrainConfig(data=data, image_size=64, folds=3, **kwargs)


def test_partition_is_made_once_and_splits_never_touch_test(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    cfg = _cfg(dataset)
    part = create_partition(cfg, TestSpec(fraction=0.2, seed=3), out)
    assert len(part.test) and len(part.dev) + len(part.test) == len(part.index) == 122
    test = set(part.test.tolist())
    search = dev_split(part, cfg)
    assert len(search.test) == 0 and not test & (set(search.train) | set(search.val))
    refit = refit_split(part, cfg)
    assert np.array_equal(refit.train, search.train) and set(refit.test.tolist()) == test
    for fold in cv_splits(part, cfg):
        assert not test & (set(fold.train) | set(fold.val) | set(fold.test))
    # The planted copies are found (exact pairs) and listed in leakage.csv with their roles.
    pairs = pd.read_csv(out / LEAKAGE_FILE)
    exact = pairs[pairs["kind"] == "exact"]
    assert len(exact) == 3 and exact["file_a"].str.contains("Normal").all()
    assert "exact" in part.leakage_summary

    again = load_partition(cfg, out)  # a resumed search or the CV: the very same rows
    assert np.array_equal(again.dev, part.dev) and np.array_equal(again.test, part.test)
    changed = dataset / pd.read_csv(out / SPLITS_FILE).query("role == 'test'")["file"].iloc[0]
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=changed.name):
        load_partition(cfg, out)


def test_dedupe_keeps_one_image_of_each_duplicate_group(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    part = create_partition(_cfg(dataset), TestSpec(fraction=0.2), out, dedupe=True)
    assert len(part.index) == 120  # the two planted copies are gone, the original stays
    files = set(pd.read_csv(out / SPLITS_FILE)["file"])
    assert sum("Normal-copy" in f for f in files) == 0 and len(files) == 120
    assert "removed 2 duplicate image(s)" in part.leakage_summary


def test_an_experiment_without_a_partition_is_refused(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no splits\.csv"):
        load_partition(_cfg(dataset), tmp_path)
