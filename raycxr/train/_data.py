"""From a config to arrays ready to train on: index, decode (cached), split, class statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from raycxr.data import (
    DatasetIndex,
    Split,
    TestSpec,
    apply_uncertain,
    check_dataset_use,
    decode_dataset,
    draw_test,
    fold_files_in,
    multilabel_folds,
    predefined_splits,
    read_dataset,
    read_fold_files,
    resolve_dataset,
    select_task,
    stratified_folds,
)
from raycxr.losses import ClassStats, check_loss_task, class_statistics, loss_spec
from raycxr.train._config import TrainConfig


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """Decoded images and their splits; everything a training run reads.

    Attributes:
        images: ``(N, S, S)`` uint8 images (row-aligned with ``index``).
        index: The dataset index (undecodable images removed when skipped).
        splits: One train/val/test split per fold.
        holdout: Rows held out of every fold (possibly empty).
        bad: Skipped files and their errors.
        unassigned: Rows in no predefined fold (not used for training or testing).
    """

    images: np.ndarray
    index: DatasetIndex
    splits: list[Split]
    holdout: np.ndarray
    bad: dict[str, str]
    unassigned: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.index.labels

    @property
    def classes(self) -> tuple[str, ...]:
        return self.index.classes


def make_splits(index: DatasetIndex, cfg: TrainConfig) -> tuple[list[Split], np.ndarray, np.ndarray]:
    """``(splits, holdout_rows, unassigned_rows)`` for ``cfg``'s split settings.

    The holdout is drawn by :func:`~raycxr.data.draw_test`, as an experiment's test set:
    ``holdout_fraction`` f holds out ``round(f × count)`` images of each class (with
    ``split='group'``, ``m`` of ``K`` group folds), and the same seed holds out the same
    images as ``TestSpec(fraction=f, group=…, seed=…)`` does for the experiment's manifest.

    Raises:
        ValueError: ``split='group'`` on a dataset without groups, with too few groups for the
            folds, validation or holdout fractions, or leaving a class out of a training set;
            a holdout without some class, or leaving none of a class to develop on; or bad
            fold files.
    """
    if cfg.split == "predefined":
        predefined = read_fold_files(index, fold_files_in(cfg.folds_dir), root=cfg.data)
        splits = predefined_splits(index, predefined, cfg.val_fraction, cfg.seed)
        return splits, np.zeros(0, dtype=np.int64), predefined.unassigned
    groups = None
    if cfg.split == "group":
        if index.groups is None:
            raise ValueError(
                "split 'group' needs groups: a CSV 'group' column or Kaggle metadata sheets with a URL column."
            )
        groups = index.groups
    holdout = np.zeros(0, dtype=np.int64)
    dev = np.arange(len(index))
    if cfg.holdout_fraction > 0 or cfg.holdout_official:
        if cfg.data is None:
            raise ValueError("a holdout needs the dataset's root (--data PATH).")
        group = cfg.split == "group"
        if cfg.holdout_official:
            spec = TestSpec(official=True, group=group)
        else:
            spec = TestSpec(fraction=cfg.holdout_fraction, group=group, seed=cfg.seed)
        held = draw_test(index, cfg.data, spec)  # the same draw as an experiment's --test-fraction
        dev, holdout = np.flatnonzero(~held), np.flatnonzero(held)
    folds = multilabel_folds if index.multilabel else stratified_folds
    splits = folds(index.labels, cfg.folds, cfg.val_fraction, cfg.seed, groups, rows=dev, classes=index.classes)
    return splits, holdout, np.zeros(0, dtype=np.int64)


def task_index(cfg: TrainConfig, losses: Sequence[str] | None = None) -> DatasetIndex:
    """The dataset index of ``cfg``'s task (its ``classes`` and ``class_map``), read by ``cfg.dataset``.

    Args:
        cfg: The settings of the task.
        losses: The losses its runs may train with (a search's every possible one); default ``cfg.loss``.
            Each is checked against the task (its kind, its number of classes) before any image is decoded.

    Raises:
        ValueError: No dataset, one its adapter refuses, an unknown class, ``binary`` without
            exactly two classes, or a loss for another kind of task.
    """
    if cfg.data is None:
        raise ValueError("No dataset given (--data PATH).")
    index = select_task(read_dataset(cfg.data, cfg.dataset), cfg.classes, cfg.class_map)
    losses = [cfg.loss] if losses is None else list(losses)
    for loss in losses:
        check_loss_task(loss, multilabel=index.multilabel)
    if index.multilabel:
        return _multilabel_task(index, cfg)
    if cfg.binary and len(index.classes) != 2:
        raise ValueError(
            f"binary needs exactly two classes; the task has {len(index.classes)} ({', '.join(index.classes)}): "
            "choose two with --classes or merge with --class-map."
        )
    for loss in losses:
        if loss_spec(loss).binary_only and len(index.classes) != 2:
            raise ValueError(
                f"loss {loss!r} needs two classes; the task has {len(index.classes)} ({', '.join(index.classes)})."
            )
    return index


def _multilabel_task(index: DatasetIndex, cfg: TrainConfig) -> DatasetIndex:
    """A multi-label task: uncertain labels by ``cfg.uncertain``; a multi-label loss and decision rule.

    Raises:
        ValueError: A single-label loss, ``binary``, a two-class decision rule, or a label with no
            positive left (named).
    """
    if cfg.binary or cfg.decision in ("youden", "specificity", "argmax"):
        what = "binary" if cfg.binary else f"decision {cfg.decision!r}"
        raise ValueError(
            f"{what} is for single-label tasks; this dataset is multi-label (each label gets its own threshold, "
            "chosen on validation: leave decision at 'auto')."
        )
    labels = apply_uncertain(index.labels, cfg.uncertain)
    empty = [name for name, column in zip(index.classes, labels.T) if not np.any(column == 1)]
    if empty:
        raise ValueError(
            f"label(s) {', '.join(map(repr, empty))} have no positive image (uncertain {cfg.uncertain!r}); leave them "
            "out with --classes."
        )
    return dataclasses.replace(index, labels=labels)


def prepare_data(cfg: TrainConfig) -> PreparedData:
    """Index, decode (through the on-disk cache) and split the dataset of ``cfg``.

    All checks of the data happen here, before any training starts.

    Raises:
        ValueError: Anything wrong with the data or splits (message names the path/value).
    """
    if cfg.data is None:
        raise ValueError("No dataset given (--data PATH).")
    cfg.check()
    check_dataset_use(resolve_dataset(cfg.data, cfg.dataset), cfg.holdout_official, cfg.split == "group")
    index = task_index(cfg)
    make_splits(index, cfg)  # cheap: fails on bad fold files before the costly decode
    decoded = decode_dataset(index, cfg.image_size, cfg.interpolation, cfg.cache_dir, cfg.skip_bad, resize=cfg.resize)
    splits, holdout, unassigned = make_splits(decoded.index, cfg)  # skipped files are gone
    return PreparedData(decoded.images, decoded.index, splits, holdout, decoded.bad, unassigned)


class DecodedData(Protocol):
    """What the class statistics read: :class:`PreparedData`, or an experiment's ``Partition``."""

    images: np.ndarray

    @property
    def labels(self) -> np.ndarray: ...

    @property
    def classes(self) -> tuple[str, ...]: ...


def split_statistics(data: DecodedData, split: Split, cfg: TrainConfig) -> ClassStats:
    """Attention-loss class statistics of a split's training rows (seeded by ``cfg.seed``)."""
    return class_statistics(
        data.images, data.labels, len(data.classes), split.train, cfg.stats_samples, cfg.stats_size, cfg.seed
    )
