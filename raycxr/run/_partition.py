"""An experiment's data: one dev/test partition (``splits.csv``), audited for leakage, and its splits.

Every command of an experiment reads the same partition. The search creates it once
(:func:`create_partition`): the images are indexed, decoded, hashed (file content, and a
perceptual hash of each file decoded at the audit resolution, whatever the training size),
optionally de-duplicated, partitioned into ``dev`` and ``test`` and written to
``EXPERIMENT/splits.csv`` with the duplicate pairs in ``EXPERIMENT/leakage.csv``. The pairs
that straddle the search's train/validation slice (:func:`search_leakage`), CV or nested
outer folds (:func:`fold_leakage`) are counted from ``leakage.csv`` where those splits are
made. Every later command (a resumed search, the CV) reads it back
with :func:`load_partition`, which refuses data that no longer match it.

Test rows are only ever scored: the search trains on ``dev`` and early-stops and selects
on a validation slice of ``dev`` (:func:`dev_split`); CV folds live inside ``dev``
(:func:`cv_splits`); the refit of each configuration trains on the same dev split and is
scored once on ``test`` (:func:`refit_split`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data import (
    DatasetIndex,
    Manifest,
    Split,
    TestSpec,
    audit,
    dedupe_rows,
    file_phashes,
    find_duplicates,
    fold_files_in,
    fold_parts,
    hash_index,
    leaked_test_rows,
    make_manifest,
    multilabel_folds,
    multilabel_split,
    predefined_splits,
    read_fold_files,
    read_manifest,
    relative_files,
    straddle_summary,
    straddling,
    stratified_folds,
    train_val_split,
    verify_manifest,
)
from raycxr.experiment import LEAKAGE_FILE, SEARCH_LEAKAGE_FILE, SPLITS_FILE
from raycxr.run._images import ImageStore, beyond_memory, decode_images
from raycxr.train import TrainConfig, task_index


@dataclasses.dataclass(frozen=True)
class Partition:
    """The decoded images of an experiment and its dev/test rows.

    Attributes:
        images: ``(N, S, S)`` uint8 images, row-aligned with ``index``: in memory, or a
            read-only memmap when they exceed the memory budget (:mod:`raycxr.run._images`).
        index: The dataset index (rows the manifest does not list are left out).
        dev: Rows that train, validate and select.
        test: Rows scored once at the end (empty: no untouched test set).
        manifest: The partition as written in ``splits.csv``.
        leakage_summary: What the leakage audit found, one paragraph.
    """

    images: np.ndarray
    index: DatasetIndex
    dev: np.ndarray
    test: np.ndarray
    manifest: Manifest
    leakage_summary: str

    @property
    def labels(self) -> np.ndarray:
        return self.index.labels

    @property
    def classes(self) -> tuple[str, ...]:
        return self.index.classes

    @property
    def groups(self) -> np.ndarray | None:
        return self.index.groups


def _decode(index: DatasetIndex, cfg: TrainConfig) -> tuple[DatasetIndex, np.ndarray]:
    decoded = decode_images(index, cfg, cfg.image_size, cfg.skip_bad)
    return decoded.index, decoded.images


def _duplicate_pairs(index: DatasetIndex, sha256: list[str], cfg: TrainConfig) -> pd.DataFrame:
    """Exact and near-duplicate pairs, hashed at the audit resolution (not ``cfg.image_size``)."""
    return find_duplicates(sha256, file_phashes(index.paths, sha256, cfg.cache_dir))


def _audit(index: DatasetIndex, manifest: Manifest, cfg: TrainConfig, out: Path) -> str:
    """Duplicate pairs within and across dev/test, written to ``out/leakage.csv``; the summary."""
    rows = manifest.table.set_index("file").loc[relative_files(index, cfg.data)]
    result = audit(_duplicate_pairs(index, rows["sha256"].tolist(), cfg), rows["role"].to_numpy())
    result.write_csv(out / LEAKAGE_FILE, index, cfg.data)
    return result.summary()


def create_partition(
    cfg: TrainConfig, spec: TestSpec, directory: Path, dedupe: bool = False, losses: Sequence[str] | None = None
) -> Partition:
    """Index, decode, (de-duplicate), partition and audit the data of a new experiment.

    Writes ``directory/splits.csv`` and ``directory/leakage.csv``. With ``dedupe``, one
    image of each complete-linkage duplicate group is kept (every image removed is within
    the threshold of the one kept: a chain of close but distinct images is not removed).

    Raises:
        ValueError: Bad data or test specification (an unknown source, a class missing
            from test or dev …), before any training.
    """
    if cfg.data is None:
        raise ValueError("No dataset given (--data PATH).")
    index, images = _decode(task_index(cfg, losses), cfg)  # the task (and each loss for it) checked first
    note = ""
    if dedupe:
        keep = dedupe_rows(len(index), _duplicate_pairs(index, hash_index(index), cfg))
        removed = len(index) - len(keep)
        if removed:  # beyond memory: a store of the kept rows, not a copy of them in memory
            kept = index.subset(keep)
            index, images = _decode(kept, cfg) if isinstance(images, np.memmap) else (kept, images[keep])
            note = f"--dedupe removed {removed} duplicate image(s) before the partition. "
        else:
            note = "--dedupe: the audit found no duplicate images; nothing was removed. "
    manifest = make_manifest(index, cfg.data, spec)
    manifest.write(directory / SPLITS_FILE, overwrite=True)
    summary = note + _audit(index, manifest, cfg, directory)
    dev, test = manifest.rows(index, cfg.data)
    return Partition(images, index, dev, test, manifest, summary)


def load_partition(cfg: TrainConfig, directory: Path, losses: Sequence[str] | None = None) -> Partition:
    """The experiment's partition, checked against the data on disk.

    Raises:
        ValueError: No ``splits.csv``, or data that differ from it (files missing or
            changed: named).
    """
    path = directory / SPLITS_FILE
    if not path.is_file():
        raise ValueError(
            f"{directory}: no {SPLITS_FILE} (the experiment's dev/test partition); it was made by an older "
            "raycxr: run the search again."
        )
    if cfg.data is None:
        raise ValueError("No dataset given (--data PATH).")
    manifest = read_manifest(path)
    index = task_index(cfg, losses)
    verify_manifest(manifest, index, cfg.data)
    listed = set(manifest.table["file"])
    index = index.subset(np.array([f in listed for f in relative_files(index, cfg.data)], dtype=bool))
    index, images = _decode(index, cfg)
    dev, test = manifest.rows(index, cfg.data)
    summary = _leakage_summary(directory)
    return Partition(images, index, dev, test, manifest, summary)


def _leakage_summary(directory: Path) -> str:
    path = directory / LEAKAGE_FILE
    if not path.is_file():
        return "No leakage audit was recorded."
    pairs = pd.read_csv(path)
    if not len(pairs):
        summary = "The leakage audit found no exact or near-duplicate images."
    else:
        across = pairs[pairs["role_a"] != pairs["role_b"]]
        summary = (
            f"The leakage audit found {len(pairs)} duplicate pair(s) ({(pairs['kind'] == 'exact').sum()} exact, "
            f"{(pairs['kind'] == 'near').sum()} near), {len(across)} of them across dev and test; see {LEAKAGE_FILE}."
        )
    search = directory / SEARCH_LEAKAGE_FILE
    if search.is_file():
        straddle = pd.read_csv(search)
        summary += f" {len(straddle)} pair(s) straddle the search's train/validation slice; see {SEARCH_LEAKAGE_FILE}."
    return summary


def leakage_pairs(directory: Path) -> pd.DataFrame:
    """The experiment's duplicate pairs by file (``leakage.csv``).

    Raises:
        ValueError: The experiment has no ``leakage.csv`` (made by an older raycxr).
    """
    path = directory / LEAKAGE_FILE
    if not path.is_file():
        raise ValueError(f"{directory}: no {LEAKAGE_FILE} (the experiment's leakage audit); run the search again.")
    return pd.read_csv(path)


def split_leakage(
    directory: Path,
    partition: Partition,
    cfg: TrainConfig,
    parts: Mapping[int, str],
    boundary: str,
    out_name: str | None = None,
) -> str:
    """Which of the experiment's duplicate pairs straddle a partition of its rows; one sentence.

    Args:
        directory: The experiment (its ``leakage.csv``).
        partition: The experiment's partition (rows of ``parts`` are rows of its index).
        cfg: The experiment's configuration (its data root).
        parts: Row → part label (``'train'``/``'val'``, ``'fold3'`` …); rows not listed
            are outside the partition.
        boundary: What the parts are, for the sentence (e.g. ``'CV folds'``).
        out_name: If given, the straddling pairs are written to ``directory/out_name``.

    Returns:
        The sentence; says so when the experiment has no ``leakage.csv`` (an older raycxr).
    """
    if not (directory / LEAKAGE_FILE).is_file():
        return f"{boundary}: no leakage audit was recorded ({LEAKAGE_FILE} is missing)."
    files = relative_files(partition.index, cfg.data)
    straddle = straddling(leakage_pairs(directory), {files[r]: label for r, label in parts.items()})
    if out_name is not None:
        straddle.to_csv(directory / out_name, index=False)
    return straddle_summary(straddle, boundary)


def search_leakage(directory: Path, partition: Partition, split: Split, cfg: TrainConfig) -> str:
    """The pairs straddling the search's train/validation slice, in ``leakage_search.csv``; one sentence.

    A copy on each side inflates the validation score every trial early-stops and is selected on.
    """
    parts = {int(r): "train" for r in split.train} | {int(r): "val" for r in split.val}
    return split_leakage(directory, partition, cfg, parts, "Search train/validation", SEARCH_LEAKAGE_FILE)


def fold_leakage(
    directory: Path,
    partition: Partition,
    cfg: TrainConfig,
    splits: Sequence[Split],
    boundary: str = "CV folds",
    out_name: str | None = None,
) -> str:
    """The pairs straddling K folds (CV or nested outer folds: each row's part is the fold that tests it).

    Raises:
        ValueError: A row is tested by two folds.
    """
    return split_leakage(directory, partition, cfg, fold_parts(splits), boundary, out_name)


def leaked_test(directory: Path, partition: Partition, cfg: TrainConfig) -> np.ndarray:
    """Test rows with a duplicate among the dev rows: leave them out for leak-free test metrics.

    Raises:
        ValueError: No ``leakage.csv`` in ``directory``.
    """
    files = relative_files(partition.index, cfg.data)
    row_of = {f: i for i, f in enumerate(files)}
    pairs = leakage_pairs(directory)
    dev_test = pairs[pairs["role_a"] != pairs["role_b"]] if "role_a" in pairs.columns else pairs
    leaked = leaked_test_rows(dev_test, [files[r] for r in partition.test])
    return np.array(sorted(row_of[f] for f in leaked if f in row_of), dtype=np.int64)


def _groups(partition: Partition, cfg: TrainConfig) -> np.ndarray | None:
    if cfg.split != "group":
        return None
    if partition.groups is None:
        raise ValueError("split 'group' needs groups: a CSV 'group' column or Kaggle metadata sheets (URL column).")
    return partition.groups


def dev_split(partition: Partition, cfg: TrainConfig) -> Split:
    """The search's split: train on dev, validate (early stopping, selection) on a slice of dev; no test."""
    groups = _groups(partition, cfg)
    if partition.index.multilabel:  # iterative stratification of the dev images, or of its patients
        split = multilabel_split(partition.labels, 0.0, cfg.val_fraction, cfg.seed, groups, partition.dev,
                                 partition.classes)  # fmt: skip
        return Split(train=split.train, val=split.val, test=partition.test[:0])
    train, val = train_val_split(partition.dev, partition.labels, groups, cfg.val_fraction, cfg.seed)
    return Split(train=train, val=val, test=partition.test[:0])


def refit_split(partition: Partition, cfg: TrainConfig) -> Split:
    """A configuration refit on dev (the search's train/validation split), scored on test."""
    split = dev_split(partition, cfg)
    return dataclasses.replace(split, test=partition.test)


def cv_splits(partition: Partition, cfg: TrainConfig) -> list[Split]:
    """K folds inside dev, with the experiment's split kind and seed (or predefined fold files).

    Raises:
        ValueError: A fold file names a test image (named), or bad folds.
    """
    if cfg.split != "predefined":
        folds = multilabel_folds if partition.index.multilabel else stratified_folds
        return folds(
            partition.labels, cfg.folds, cfg.val_fraction, cfg.seed, _groups(partition, cfg), rows=partition.dev
        )
    predefined = read_fold_files(partition.index, fold_files_in(cfg.folds_dir), root=cfg.data)
    test = set(partition.test.tolist())
    for k, rows in enumerate(predefined.test_sets):
        planted = [partition.index.paths[r].name for r in rows if r in test]
        if planted:
            shown = ", ".join(planted[:5]) + (" …" if len(planted) > 5 else "")
            raise ValueError(
                f"fold file {k + 1} names {len(planted)} image(s) of the experiment's untouched test set "
                f"({SPLITS_FILE}): {shown}. Fold files must only name dev images."
            )
    return predefined_splits(partition.index, predefined, cfg.val_fraction, cfg.seed)


def images_at(partition: Partition, cfg: TrainConfig, size: int) -> np.ndarray:
    """The partition's images at ``size`` × ``size`` (decoded through the on-disk cache).

    Raises:
        ValueError: An image that decoded when the partition was made no longer does.
    """
    if partition.images.shape[-1] == size:
        return partition.images
    return decode_images(partition.index, cfg, size, skip_bad=False).images


def put_images(partition: Partition, cfg: TrainConfig, sizes: Iterable[int]) -> dict[int, ImageStore]:
    """The partition's images at every size a run may train at, each stored once for every run to read.

    In Ray's object store when they fit the memory budget, else in a memory-mapped store
    (:mod:`raycxr.run._images`). The budget is checked again with Ray up: images decoded in
    memory before it started that exceed its object store go to a memmap store instead.
    """
    stores = {}
    for size in sorted(set(sizes)):
        images = images_at(partition, cfg, size)
        if not isinstance(images, np.memmap) and beyond_memory(len(images), size, cfg):
            images = decode_images(partition.index, cfg, size, skip_bad=False).images
        stores[size] = ImageStore.of(images)
    return stores
