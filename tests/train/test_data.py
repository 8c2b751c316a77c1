"""The data a run trains on: its held-out set is drawn as an experiment's test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from raycxr.data import TestSpec, index_dataset, make_manifest, relative_files
from raycxr.train import TrainConfig, make_splits


@pytest.fixture(scope="module")
def grouped_csv(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset as a CSV whose groups (pairs of images) are not confounded with classes."""
    index = index_dataset(tiny_dataset)
    csv = tmp_path_factory.mktemp("grouped") / "grouped.csv"  # absolute paths: the fixture stays read-only
    pd.DataFrame(
        {
            "path": [str(p) for p in index.paths],
            "label": [index.classes[c] for c in index.labels],
            "group": [f"g{i // 2}" for i in range(len(index))],
        }
    ).to_csv(csv, index=False)
    return csv


@pytest.mark.parametrize("group", [False, True])
def test_holdout_fraction_holds_out_the_manifests_test_set(tiny_dataset: Path, grouped_csv: Path, group: bool) -> None:
    """``--holdout-fraction`` and ``--test-fraction`` are one draw: the same seed, the same images."""
    data = grouped_csv if group else tiny_dataset
    index = index_dataset(data)
    fraction = 0.25 if group else 0.2
    cfg = TrainConfig(data=data, holdout_fraction=fraction, seed=3, folds=3, split="group" if group else "stratified")
    splits, holdout, _ = make_splits(index, cfg)
    table = make_manifest(index, data, TestSpec(fraction=fraction, group=group, seed=3)).table
    tested = set(table["file"][table["role"] == "test"])
    assert {relative_files(index, data)[i] for i in holdout} == tested
    for split in splits:
        assert not set(np.concatenate([split.train, split.val, split.test])) & set(holdout)
    if not group:  # round(0.2 × count) images of each class
        counts = np.bincount(index.labels[holdout], minlength=len(index.classes))
        assert counts.tolist() == np.floor(0.2 * index.class_counts + 0.5).astype(int).tolist()


def test_a_holdout_fraction_follows_the_test_fractions_rule() -> None:
    with pytest.raises(ValidationError, match=r"Test fraction must be 0 \(no test set\) or lie in \(0, 0.5\], got 0.7"):
        TrainConfig(holdout_fraction=0.7)
    assert TrainConfig(holdout_fraction=0.5).holdout_fraction == 0.5
