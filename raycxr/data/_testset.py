"""The untouched test set: how it is chosen (:class:`TestSpec`) and drawn (:func:`draw_test`).

The draw depends only on the files (their paths relative to the data root), classes,
groups and the spec's seed, never on the order of the index: the rows are sorted by file
first, so the same seed gives the same test set wherever the data are indexed from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from raycxr.data._filelists import match_file_list
from raycxr.data._index import DatasetIndex, relative_files
from raycxr.data._listing import listing
from raycxr.data._mlsplits import multilabel_holdout

_MAX_GROUP_FOLDS = 20


@dataclasses.dataclass(frozen=True)
class TestSpec:
    """How the test set is chosen: exactly one of ``fraction``, ``sources``, ``files`` or ``official``.

    Attributes:
        fraction: Share of the images held out, stratified by class (each class
            contributes ``round(fraction × its count)`` images). ``0`` keeps no test set
            (the paper's protocol); otherwise it must lie in (0, 0.5].
        sources: Groups (sources) held out whole: external validation.
        files: CSV naming the test images, by a ``FILE NAME`` column (file names without
            suffix, case-insensitive, like the paper's fold files) or a ``file`` column
            (paths relative to the data root).
        official: The dataset's own test split (its adapter marks the rows, e.g. COVIDx's
            ``test.txt``): results comparable with everyone else's on that dataset.
        group: With a fraction, no group straddles dev and test (``StratifiedGroupKFold``;
            the test set is ``m`` of ``K ≤ 20`` group folds, ``m / K`` closest to the
            fraction, so at least ``K`` groups are needed). With ``files``, a group
            straddling dev and test is an error; with ``sources`` it holds by construction.
            Needs groups in the index.
        seed: Seed of the random choice; the same seed gives the same test set.
    """

    __test__ = False  # not a pytest test class

    fraction: float | None = None
    sources: tuple[str, ...] | None = None
    files: Path | None = None
    official: bool = False
    group: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        given = [name for name in ("fraction", "sources", "files") if getattr(self, name) is not None]
        given += ["official"] if self.official else []
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(f"Give exactly one of fraction, sources, files or official for the test set, got {what}.")
        if self.fraction is not None:
            fraction = self.fraction
            if (
                isinstance(fraction, bool)
                or not isinstance(fraction, (int, float))
                or not (fraction == 0 or 0 < fraction <= 0.5)
            ):
                raise ValueError(f"Test fraction must be 0 (no test set) or lie in (0, 0.5], got {fraction!r}.")
            object.__setattr__(self, "fraction", float(fraction))
        if self.sources is not None:
            sources = (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)
            if not sources or not all(isinstance(s, str) and s.strip() for s in sources):
                raise ValueError(f"Test sources must be one or more non-empty names, got {self.sources!r}.")
            object.__setattr__(self, "sources", tuple(dict.fromkeys(s.strip() for s in sources)))
        if self.files is not None:
            object.__setattr__(self, "files", Path(self.files).expanduser())
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}.")

    def describe(self) -> str:
        """The spec in a few words, for messages (``fraction 0.2``, ``sources a, b``, ``files t.csv``)."""
        if self.fraction is not None:
            return f"{'group-aware ' if self.group else ''}fraction {self.fraction:g}"
        if self.sources is not None:
            return f"sources {listing(list(self.sources), 3)}"
        if self.official:
            return "the official test split"
        return f"files {self.files}"


def index_groups(index: DatasetIndex) -> list[str]:
    """Each image's group as a string; ``""`` where it has none (or the index has no groups)."""
    if index.groups is None:
        return [""] * len(index)
    return ["" if g is None or (isinstance(g, float) and math.isnan(g)) else str(g) for g in index.groups]


def _check_both_roles(test: np.ndarray, labels: np.ndarray, classes: Sequence[str], how: str) -> None:
    """Every class must be in dev and (when there is a test set) in test; multi-label: a positive of every label."""
    if not test.any():
        return
    if labels.ndim == 2:
        for j, name in enumerate(classes):
            positive = labels[:, j] == 1
            if not (positive & test).any():
                raise ValueError(f"The test set ({how}) has no positive of label {name!r}; every label must be tested.")
            if not (positive & ~test).any():
                raise ValueError(f"The dev set ({how}) has no positive of label {name!r}; nothing could learn it.")
        return
    for c, name in enumerate(classes):
        in_class = labels == c
        if not (in_class & test).any():
            raise ValueError(f"The test set ({how}) has no image of class {name!r}; every class must be tested.")
        if not (in_class & ~test).any():
            raise ValueError(f"The dev set ({how}) has no image of class {name!r}; nothing could learn it.")


def _group_folds(fraction: float) -> tuple[int, int]:
    """``(m, K)``: a test set of ``m`` of ``K`` group folds, ``m / K`` closest to ``fraction``."""
    best = (math.inf, 1, 2)
    for k in range(2, max(_MAX_GROUP_FOLDS, round(1 / fraction)) + 1):
        m = max(1, round(fraction * k))
        error = abs(m / k - fraction)
        if error < best[0] - 1e-12:
            best = (error, m, k)
    return best[1], best[2]


def _fraction_test(labels: np.ndarray, classes: Sequence[str], groups: list[str], spec: TestSpec) -> np.ndarray:
    fraction = spec.fraction
    assert fraction is not None
    test = np.zeros(len(labels), dtype=bool)
    if fraction == 0:
        return test
    if labels.ndim == 2:  # multi-label: iterative stratification, of whole groups with ``group``
        held = multilabel_holdout(labels, fraction, spec.seed, np.asarray(groups, dtype=object) if spec.group else None,
                                  classes)  # fmt: skip
        test[held] = True
        return test
    if not spec.group:
        # Per class, exactly round(fraction × count) images: stratified to the image.
        wanted = np.floor(fraction * np.bincount(labels, minlength=len(classes)) + 0.5).astype(int)
        for c, name in enumerate(classes):
            count = int((labels == c).sum())
            if wanted[c] == 0:
                raise ValueError(
                    f"The test set has no image of class {name!r}: {count} image(s) × fraction {fraction:g} "
                    "rounds to 0; raise the fraction or hold out by files."
                )
            if wanted[c] >= count:
                raise ValueError(f"The dev set has no image of class {name!r}: it has only {count} image(s).")
        rng = np.random.default_rng(spec.seed)
        for c in range(len(classes)):
            test[rng.permutation(np.flatnonzero(labels == c))[: wanted[c]]] = True
        return test
    m, k = _group_folds(fraction)
    n_groups = len(set(groups))
    if n_groups < k:
        raise ValueError(
            f"A group-aware test set of fraction {fraction:g} is {m} of {k} group folds and needs at least "
            f"{k} groups; the index has {n_groups}."
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=spec.seed)
    positions = np.arange(len(labels))
    for fold, (_, held) in enumerate(splitter.split(positions, labels, np.asarray(groups))):
        if fold < m:
            test[held] = True
    return test


def _sources_test(groups: list[str], spec: TestSpec) -> np.ndarray:
    assert spec.sources is not None
    known = sorted(set(groups) - {""})
    unknown = [s for s in spec.sources if s not in known]
    if unknown:
        raise ValueError(f"Unknown test source(s) {listing(unknown)}; the known sources are: {listing(known, 10)}")
    return np.isin(np.asarray(groups, dtype=object), list(spec.sources))


def _files_test(index: DatasetIndex, root: str | Path, groups: list[str], spec: TestSpec) -> np.ndarray:
    """The images the list ``spec.files`` names, or the official split (row-aligned with ``index``);
    groups checked with ``group``."""
    test = np.zeros(len(index), dtype=bool)
    if spec.official:
        if index.official_test is None:
            raise ValueError("The official test split: this dataset has none (choose a dataset that has one).")
        test[:] = index.official_test
        where = "The official test split"
    else:
        assert spec.files is not None
        test[match_file_list(spec.files, index, root, kind="Test files CSV")] = True
        where = str(spec.files)
    if spec.group:
        straddling = sorted(set(np.asarray(groups)[test]) & set(np.asarray(groups)[~test]))
        if straddling:
            raise ValueError(f"{where}: group(s) {listing(straddling)} have images in both dev and test (group=True).")
    return test


def draw_test(index: DatasetIndex, root: str | Path, spec: TestSpec) -> np.ndarray:
    """Which images of ``index`` are the test set ``spec`` describes: a boolean mask, row-aligned.

    The rows are drawn in the order of their files relative to ``root`` (sorted), so the
    result does not depend on the order of the index.

    Args:
        index: The dataset.
        root: The data root (dataset folder, or the dataset CSV or its folder).
        spec: How the test set is chosen.

    Raises:
        ValueError: One line: a file listed twice; ``group=True`` or sources but the index
            has no groups; an unknown source; test files not in the dataset; ``official`` on
            an index without an official split; a group straddling a file list or official split; too few groups
            for a group-aware split; a test or dev set lacking a class.
    """
    files = relative_files(index, root)
    order = np.argsort(np.asarray(files, dtype=object), kind="stable")
    if len(set(files)) != len(files):
        twice = sorted(pd.Series(files)[pd.Series(files).duplicated()].unique())
        raise ValueError(f"The index lists file(s) {listing(twice)} more than once.")
    labels = np.asarray(index.labels)[order]
    all_groups = index_groups(index)
    groups = [all_groups[i] for i in order]
    if (spec.group or spec.sources is not None) and not any(groups):
        what = "group=True" if spec.group else "Test sources"
        raise ValueError(f"{what} needs groups, but the index has none (no metadata sheets or group column).")
    if spec.fraction is not None:
        drawn = _fraction_test(labels, index.classes, groups, spec)
    elif spec.sources is not None:
        drawn = _sources_test(groups, spec)
    else:
        drawn = _files_test(index, root, all_groups, spec)[order]
    _check_both_roles(drawn, labels, index.classes, spec.describe())
    test = np.zeros(len(index), dtype=bool)
    test[order] = drawn
    return test
