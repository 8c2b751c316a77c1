"""The split manifest: an experiment's one dev / test partition, with a content hash per file.

When an experiment is created its data are partitioned once into ``dev`` (search, CV,
refits) and ``test`` (evaluation only) and written to ``EXPERIMENT/splits.csv``::

    file,class,group,role,sha256
    COVID/images/COVID-1.png,COVID,https://sirm.org/…,dev,9f86d0…

``file`` is the POSIX path relative to the data root (the dataset folder, or the folder
of a dataset CSV). Every later run maps the manifest onto its current index with
:meth:`Manifest.rows` and checks it with :func:`verify_manifest`: a file that is
missing, whose bytes or class changed, stops the run. Files on disk that the manifest
does not list are *not part of the experiment*: they are used nowhere, named in a
warning and returned, never an error — the experiment stays exactly what it was, and
adding images cannot leak into the test set (``allow_new=False`` makes them an error).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import posixpath
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from raycxr.data._index import IMAGE_SUFFIXES, DatasetIndex

log = logging.getLogger(__name__)

COLUMNS = ("file", "class", "group", "role", "sha256")
ROLES = ("dev", "test")
_CHUNK = 1 << 20
_SHOW = 5  # file names shown per problem in a message
_MAX_GROUP_FOLDS = 20


def _listing(names: Sequence[str], limit: int = _SHOW) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------- hashing


def content_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(paths: Iterable[str | Path], workers: int | None = None) -> list[str]:
    """:func:`content_hash` of every path, in order, on a thread pool.

    hashlib and file reads release the GIL, so threads use every core and overlap I/O.

    Raises:
        ValueError: Some files could not be read; names up to five of them.
    """
    paths = list(paths)
    failed: dict[int, str] = {}

    def one(i: int) -> str:
        try:
            return content_hash(paths[i])
        except OSError as error:
            failed[i] = f"{paths[i]} ({error.strerror or type(error).__name__})"
            return ""

    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(one, range(len(paths))))
    if failed:
        raise ValueError(f"{len(failed)} file(s) could not be read: {_listing([failed[i] for i in sorted(failed)])}")
    return digests


def hash_index(index: DatasetIndex, workers: int | None = None) -> list[str]:
    """SHA-256 of every image of ``index``, row-aligned with ``index.paths``."""
    return hash_files(index.paths, workers)


# --------------------------------------------------------------------------- spec


@dataclasses.dataclass(frozen=True)
class TestSpec:
    """How the test set is chosen: exactly one of ``fraction``, ``sources`` or ``files``.

    Attributes:
        fraction: Share of the images held out, stratified by class (each class
            contributes ``round(fraction × its count)`` images). ``0`` keeps no test set
            (the paper's protocol); otherwise it must lie in (0, 0.5].
        sources: Groups (sources) held out whole: external validation.
        files: CSV naming the test images, by a ``FILE NAME`` column (file names without
            suffix, case-insensitive, like the paper's fold files) or a ``file`` column
            (paths relative to the data root).
        group: With a fraction, no group straddles dev and test (``StratifiedGroupKFold``;
            the test set is ``m`` of ``K ≤ 20`` group folds, ``m / K`` closest to the
            fraction, so at least ``K`` groups are needed). With ``files``, a group
            straddling dev and test is an error; with ``sources`` it holds by construction.
            Needs groups in the index.
        seed: Seed of the random choice; the same seed gives the same manifest.
    """

    __test__ = False  # not a pytest test class

    fraction: float | None = None
    sources: tuple[str, ...] | None = None
    files: Path | None = None
    group: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        given = [name for name in ("fraction", "sources", "files") if getattr(self, name) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(f"Give exactly one of fraction, sources or files for the test set, got {what}.")
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


# --------------------------------------------------------------------------- manifest


def data_root(root: str | Path) -> Path:
    """The folder manifest paths are relative to: ``root`` itself, or a dataset CSV's folder."""
    root = Path(root).expanduser().resolve()
    return root if root.is_dir() else root.parent


def relative_files(index: DatasetIndex, root: str | Path) -> list[str]:
    """Each image's POSIX path relative to :func:`data_root` of ``root``."""
    base = str(data_root(root))
    return [Path(os.path.relpath(path, base)).as_posix() for path in index.paths]


def _groups_of(index: DatasetIndex) -> list[str]:
    if index.groups is None:
        return [""] * len(index)
    return ["" if g is None or (isinstance(g, float) and math.isnan(g)) else str(g) for g in index.groups]


class Manifest:
    """An experiment's partition: a DataFrame with the columns ``file, class, group, role, sha256``.

    Rows are sorted by ``file``. ``path`` is where the manifest was read from (for
    messages), or ``None``.
    """

    __slots__ = ("path", "table")

    def __init__(self, table: pd.DataFrame, path: Path | None = None) -> None:
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"Manifest table lacks column(s) {missing}.")
        self.table = table.loc[:, list(COLUMNS)].sort_values("file", kind="stable").reset_index(drop=True)
        self.path = path

    def __repr__(self) -> str:
        roles = self.table["role"].value_counts()
        return f"Manifest({roles.get('dev', 0)} dev, {roles.get('test', 0)} test, path={self.path})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.table.equals(other.table)

    __hash__ = None  # mutable content

    def __len__(self) -> int:
        return len(self.table)

    @property
    def has_test(self) -> bool:
        """Whether the manifest holds any test image (``False`` for ``fraction=0``)."""
        return bool((self.table["role"] == "test").any())

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, sorted."""
        return tuple(sorted(self.table["class"].unique()))

    def _name(self) -> str:
        return str(self.path) if self.path is not None else "the manifest"

    def counts(self) -> pd.DataFrame:
        """Images per role (rows ``dev``, ``test``) × class, with a ``total`` column."""
        counts = pd.crosstab(self.table["role"], self.table["class"])
        counts = counts.reindex(index=list(ROLES), columns=list(self.classes), fill_value=0)
        counts["total"] = counts.sum(axis=1)
        counts.index.name, counts.columns.name = "role", "class"
        return counts

    def write(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the manifest as CSV (atomically); returns the path.

        Raises:
            ValueError: ``path`` exists and ``overwrite`` is false — an experiment's
                split is made once.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise ValueError(f"{path} already exists; an experiment's split is made once (overwrite=True to replace).")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.table.to_csv(tmp, index=False, lineterminator="\n")
        tmp.replace(path)  # atomic: a reader never sees half a manifest
        self.path = path
        return path

    def rows(self, index: DatasetIndex, root: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """``(dev_rows, test_rows)``: sorted row indices of the current ``index``.

        Images of the index that the manifest does not list are in neither (they are not
        part of the experiment).

        Raises:
            ValueError: A manifest file is not in the index or changed class (see
                :func:`verify_manifest`, which also compares contents).
        """
        diff = _compare(self, index, root, check_hashes=False)
        if diff.problems:
            raise ValueError(diff.message(self, root))
        role_of = dict(zip(self.table["file"], self.table["role"]))
        roles = np.array([role_of.get(f, "") for f in diff.files])
        return np.flatnonzero(roles == "dev"), np.flatnonzero(roles == "test")


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest written by :meth:`Manifest.write`.

    Raises:
        ValueError: The file is missing or unreadable, lacks a column, or has an empty
            file or class, an unknown role, a malformed hash, a file listed twice, or no
            dev rows (one line naming the file and the problem).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Manifest {path} does not exist.")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV manifest ({str(error).splitlines()[0]}).") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {','.join(COLUMNS)}.")

    def bad(mask: pd.Series, problem: str) -> None:
        if mask.any():
            line = int(np.flatnonzero(mask.to_numpy())[0]) + 2  # the header is line 1
            raise ValueError(f"{path}, line {line}: {problem.format(**table.iloc[line - 2].to_dict())}")

    bad(table["file"].str.strip() == "", "empty file name.")
    bad(table["class"].str.strip() == "", "file {file} has no class.")
    bad(~table["role"].isin(ROLES), "role {role!r} of {file} is not 'dev' or 'test'.")
    bad(~table["sha256"].str.fullmatch(r"[0-9a-f]{64}"), "sha256 {sha256!r} of {file} is not 64 hex digits.")
    bad(table["file"].duplicated(), "file {file} is listed twice.")
    if not (table["role"] == "dev").any():
        raise ValueError(f"{path}: no dev rows; nothing could be trained.")
    return Manifest(table, path=path)


# --------------------------------------------------------------------------- making


def _check_both_roles(test: np.ndarray, labels: np.ndarray, classes: Sequence[str], how: str) -> None:
    """Every class must be in dev and (when there is a test set) in test."""
    if not test.any():
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
        raise ValueError(f"Unknown test source(s) {_listing(unknown)}; the known sources are: {_listing(known, 10)}")
    return np.isin(np.asarray(groups, dtype=object), list(spec.sources))


def _files_test(files: list[str], groups: list[str], spec: TestSpec) -> np.ndarray:
    csv = spec.files
    assert csv is not None
    if not csv.is_file():
        raise ValueError(f"Test files CSV {csv} does not exist.")
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    columns = [c for c in ("file", "FILE NAME") if c in table.columns]
    if len(columns) != 1:
        problem = "both" if columns else "neither"
        raise ValueError(
            f"{csv}: has {problem} of the columns 'file' and 'FILE NAME' (columns: {list(table.columns)}); "
            "give exactly one."
        )
    names = [n.strip() for n in table[columns[0]] if n.strip()]
    if not names:
        raise ValueError(f"{csv}: names no test image.")
    if columns[0] == "file":
        keys = [posixpath.normpath(f) for f in files]
        wanted = [posixpath.normpath(n.replace("\\", "/")) for n in names]
    else:  # the paper's fold files: file names without suffix, any case
        keys = [posixpath.basename(f).rsplit(".", 1)[0].upper() for f in files]
        wanted = [n.rsplit(".", 1)[0].upper() if Path(n).suffix.lower() in IMAGE_SUFFIXES else n.upper() for n in names]
        counts = pd.Series(keys).value_counts()
        ambiguous = sorted(set(wanted) & set(counts.index[counts > 1]))
        if ambiguous:
            raise ValueError(f"{csv}: name(s) {_listing(ambiguous)} match more than one image; use a 'file' column.")
    unknown = sorted(set(wanted) - set(keys))
    if unknown:
        raise ValueError(f"{csv}: {len(unknown)} test image(s) are not in the dataset: {_listing(unknown)}")
    test = np.isin(np.asarray(keys, dtype=object), wanted)
    if spec.group:
        straddling = sorted(set(np.asarray(groups)[test]) & set(np.asarray(groups)[~test]))
        if straddling:
            raise ValueError(f"{csv}: group(s) {_listing(straddling)} have images in both dev and test (group=True).")
    return test


def make_manifest(index: DatasetIndex, root: str | Path, spec: TestSpec, workers: int | None = None) -> Manifest:
    """Partition ``index`` into dev and test as ``spec`` says, and hash every file.

    Args:
        index: The dataset.
        root: The data root (dataset folder, or the dataset CSV or its folder); the
            manifest's paths are relative to it.
        spec: How the test set is chosen.
        workers: Hashing threads (default: the thread pool's default).

    Raises:
        ValueError: One line, before any file is hashed: ``group=True`` but the index
            has no groups; an unknown source; test files not in the dataset; too few
            groups for a group-aware split; a test or dev set lacking a class. Also when
            a file cannot be read.
    """
    files = relative_files(index, root)
    order = np.argsort(np.asarray(files, dtype=object), kind="stable")  # independent of the index order
    files = [files[i] for i in order]
    labels = np.asarray(index.labels)[order]
    all_groups = _groups_of(index)
    groups = [all_groups[i] for i in order]
    if len(set(files)) != len(files):
        twice = sorted(pd.Series(files)[pd.Series(files).duplicated()].unique())
        raise ValueError(f"The index lists file(s) {_listing(twice)} more than once.")
    has_groups = any(groups)
    if (spec.group or spec.sources is not None) and not has_groups:
        what = "group=True" if spec.group else "Test sources"
        raise ValueError(f"{what} needs groups, but the index has none (no metadata sheets or group column).")
    if spec.fraction is not None:
        test = _fraction_test(labels, index.classes, groups, spec)
        how = f"{'group-aware ' if spec.group else ''}fraction {spec.fraction:g}"
    elif spec.sources is not None:
        test = _sources_test(groups, spec)
        how = f"sources {_listing(list(spec.sources), 3)}"
    else:
        test = _files_test(files, groups, spec)
        how = f"files {spec.files}"
    _check_both_roles(test, labels, index.classes, how)
    digests = hash_files([index.paths[i] for i in order], workers)
    table = pd.DataFrame(
        {
            "file": files,
            "class": [index.classes[c] for c in labels],
            "group": groups,
            "role": np.where(test, "test", "dev"),
            "sha256": digests,
        }
    )
    return Manifest(table)


# --------------------------------------------------------------------------- verifying


@dataclasses.dataclass
class _Diff:
    files: list[str]  # the index's relative files, row-aligned
    missing: list[str]
    changed: list[str]
    reclassed: list[str]
    new: list[str]

    @property
    def problems(self) -> bool:
        return bool(self.missing or self.changed or self.reclassed)

    def message(self, manifest: Manifest, root: str | Path, allow_new: bool = True) -> str:
        parts = [
            (self.missing, "missing from disk"),
            (self.changed, "content changed (sha256 differs)"),
            (self.reclassed, "class changed"),
        ]
        lines = [f"  {len(names)} {what}: {_listing(names, 10)}" for names, what in parts if names]
        if self.new:
            ignored = "" if allow_new else "; not allowed"
            lines.append(f"  {len(self.new)} new, not part of the experiment{ignored}: {_listing(self.new, 10)}")
        head = f"The data under {data_root(root)} no longer match {manifest._name()}:"
        return "\n".join([head, *lines])


def _compare(manifest: Manifest, index: DatasetIndex, root: str | Path, check_hashes: bool) -> _Diff:
    files = relative_files(index, root)
    row_of = {f: i for i, f in enumerate(files)}
    table = manifest.table
    present = np.array([f in row_of and index.paths[row_of[f]].is_file() for f in table["file"]], dtype=bool)
    missing = table["file"][~present].tolist()
    kept = table[present]
    current = [index.classes[index.labels[row_of[f]]] for f in kept["file"]]
    reclassed = [f"{f} ({was} → {now})" for f, was, now in zip(kept["file"], kept["class"], current) if was != now]
    changed: list[str] = []
    if check_hashes:
        digests = hash_files(index.paths[row_of[f]] for f in kept["file"])
        changed = [f for f, old, new in zip(kept["file"], kept["sha256"], digests) if old != new]
    listed = set(table["file"])
    new = sorted(f for f in files if f not in listed)
    return _Diff(files, missing, changed, reclassed, new)


def verify_manifest(
    manifest: Manifest, index: DatasetIndex, root: str | Path, check_hashes: bool = True, allow_new: bool = True
) -> list[str]:
    """Check that the current data are the manifest's.

    Args:
        manifest: The experiment's manifest.
        index: The current index of the data.
        root: The data root (as given to :func:`make_manifest`).
        check_hashes: Re-hash every listed file and compare with its ``sha256``.
        allow_new: Files the manifest does not list are ignored (not part of the
            experiment), logged as a warning and returned. With ``False`` they are an
            error too.

    Returns:
        The new files (relative paths, sorted): in the index, not in the manifest.

    Raises:
        ValueError: One error naming the files missing from disk (or from the index),
            those whose content or class changed, and the new files.
    """
    diff = _compare(manifest, index, root, check_hashes)
    if diff.problems or (diff.new and not allow_new):
        raise ValueError(diff.message(manifest, root, allow_new))
    if diff.new:
        log.warning(
            "%d file(s) under %s are not in %s and not part of the experiment (ignored): %s",
            len(diff.new),
            data_root(root),
            manifest._name(),
            _listing(diff.new, 10),
        )
    return diff.new
