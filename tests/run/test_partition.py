"""The experiment's partition: made once (audited, optionally de-duplicated), read back only if the data match."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from raycxr.data import Split, TestSpec
from raycxr.data.synthetic import generate
from raycxr.experiment import LEAKAGE_FILE, SEARCH_LEAKAGE_FILE, SPLITS_FILE
from raycxr.run import (
    create_partition,
    cv_splits,
    dev_split,
    fold_leakage,
    leaked_test,
    load_partition,
    refit_split,
    search_leakage,
)
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


# --------------------------------------------------------------------------- audit at a fixed resolution

#: Planted copy -> (source, how): a 1-px shift, a JPEG re-encode, a brightness change.
COPIES = {
    "Normal/images/Normal-1-shifted.png": ("Normal/images/Normal-1.png", "shift"),
    "COVID/images/COVID-1-q75.jpg": ("COVID/images/COVID-1.png", "jpeg"),
    "Lung_Opacity/images/Lung_Opacity-1-brighter.png": ("Lung_Opacity/images/Lung_Opacity-1.png", "brighter"),
}


@pytest.fixture(scope="module")
def planted_256(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 phantoms of 256 px (near the Kaggle set's 299) with three planted near copies."""
    root = generate(tmp_path_factory.mktemp("planted") / "cxr", n=40, size=256, seed=1, workers=2)
    for copy, (source, how) in COPIES.items():
        with Image.open(root / source) as image:
            pixels = np.asarray(image.convert("L"))
        if how == "shift":
            Image.fromarray(np.concatenate([pixels[:, :1], pixels[:, :-1]], axis=1)).save(root / copy)
        elif how == "jpeg":
            Image.fromarray(pixels).save(root / copy, quality=75)
        else:
            Image.fromarray(np.clip(pixels.astype(np.int16) + 8, 0, 255).astype(np.uint8)).save(root / copy)
    return root


def _straddles(summary: str) -> int:
    """The number of straddling pairs a straddle summary states."""
    head = summary.split(": ", 1)[1]
    return 0 if head.startswith("no duplicate pair straddles") else int(head.split(" of ")[0])


def _pair_set(table: pd.DataFrame) -> set[frozenset[str]]:
    return {frozenset(p) for p in zip(table["file_a"], table["file_b"])}


@pytest.mark.parametrize("image_size", [64, 128, 224])
def test_planted_copies_are_found_whatever_the_training_size(
    planted_256: Path, tmp_path: Path, image_size: int
) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    cfg = TrainConfig(data=planted_256, image_size=image_size, folds=3, cache_dir=tmp_path / "cache")
    part = create_partition(cfg, TestSpec(fraction=0.25, seed=0), out)
    assert part.images.shape[-1] == image_size  # training images at the training size ...
    pairs = pd.read_csv(out / LEAKAGE_FILE)  # ... the audit at its own resolution: the same pairs
    assert _pair_set(pairs) == {frozenset((c, s)) for c, (s, _) in COPIES.items()}, pairs
    assert set(pairs["kind"]) == {"near"}


def test_dedupe_does_not_chain_and_says_when_nothing_is_removed(planted_256: Path, tmp_path: Path) -> None:
    data = tmp_path / "cxr"
    shutil.copytree(planted_256, data)
    for copy in COPIES:
        (data / copy).unlink()
    cfg = TrainConfig(data=data, image_size=64, folds=3, cache_dir=tmp_path / "cache")
    (tmp_path / "none").mkdir()
    part = create_partition(cfg, TestSpec(fraction=0.25), tmp_path / "none", dedupe=True)
    assert len(part.index) == 40 and "nothing was removed" in part.leakage_summary
    # A chain: each step a 1-px shift of the last, so step 0 ~ step 1 ~ step 2 but step 0 ≁ step 2.
    source = data / "Normal/images/Normal-2.png"
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("L"))
    for shift in (1, 2):
        step = np.concatenate([np.repeat(pixels[:, :1], shift, axis=1), pixels[:, :-shift]], axis=1)
        Image.fromarray(step).save(source.with_name(f"Normal-2-step{shift}.png"))
    (tmp_path / "chain").mkdir()
    part = create_partition(cfg, TestSpec(fraction=0.25), tmp_path / "chain", dedupe=True)
    kept = {p.name for p in part.index.paths if p.name.startswith("Normal-2")}
    assert len(part.index) == 41 and "removed 1 duplicate image(s)" in part.leakage_summary
    # Connected components would have made one group of three and kept one image. Complete linkage
    # makes the closest two one group, the third its own: one removed, within the threshold of the one kept.
    assert (
        len(kept) == 2
        and kept != {"Normal-2-step1.png"}
        and kept <= {f"Normal-2{s}.png" for s in ("", "-step1", "-step2")}
    )
    assert "1 near-duplicate pair(s)" in part.leakage_summary  # the ends' neighbours stay, reported


def test_pairs_straddling_the_search_slice_and_folds_are_counted(planted_256: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    cfg = TrainConfig(data=planted_256, image_size=64, folds=3, val_fraction=0.3, cache_dir=tmp_path / "cache")
    part = create_partition(cfg, TestSpec(fraction=0.0), out)  # all dev: every pair is inside dev
    files = [p.relative_to(planted_256).as_posix() for p in part.index.paths]
    row = {f: i for i, f in enumerate(files)}
    # A slice with each copy in val and its source in train: all three straddle.
    val = np.array(sorted(row[c] for c in COPIES))
    split = Split(train=np.setdiff1d(part.dev, val), val=val, test=part.dev[:0])
    summary = search_leakage(out, part, split, cfg)
    assert summary.startswith("Search train/validation: 3 of 3 duplicate pair(s) (0 exact, 3 near) straddle")
    written = pd.read_csv(out / SEARCH_LEAKAGE_FILE)
    assert _pair_set(written) == {frozenset((c, s)) for c, (s, _) in COPIES.items()}
    assert set(zip(written["part_a"], written["part_b"])) <= {("train", "val"), ("val", "train")}
    assert "3 pair(s) straddle the search's train/validation slice" in load_partition(cfg, out).leakage_summary
    # The real search slice and the real CV folds: exactly the pairs whose two files are on two sides.
    search = dev_split(part, cfg)
    side = {r: "val" for r in search.val} | {r: "train" for r in search.train}
    expected = sum(side[row[c]] != side[row[s]] for c, (s, _) in COPIES.items())
    assert _straddles(search_leakage(out, part, search, cfg)) == expected
    folds = cv_splits(part, cfg)
    fold_of = {int(r): k for k, f in enumerate(folds) for r in f.test}
    expected = sum(fold_of[row[c]] != fold_of[row[s]] for c, (s, _) in COPIES.items())
    summary = fold_leakage(out, part, cfg, folds)
    assert summary.startswith("CV folds: ") and _straddles(summary) == expected


def test_leaked_test_rows_are_the_test_copies_of_dev_images(planted_256: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    cfg = TrainConfig(data=planted_256, image_size=64, folds=3, cache_dir=tmp_path / "cache")
    part = create_partition(cfg, TestSpec(fraction=0.3, seed=2), out)
    test, files = set(part.test.tolist()), [p.relative_to(planted_256).as_posix() for p in part.index.paths]
    row = {f: i for i, f in enumerate(files)}
    expected = sorted(
        r
        for c, (s, _) in COPIES.items()
        for r, other in ((row[c], row[s]), (row[s], row[c]))
        if r in test and other not in test
    )
    assert leaked_test(out, part, cfg).tolist() == expected
