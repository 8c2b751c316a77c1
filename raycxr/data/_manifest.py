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

How the test set is chosen and drawn is :mod:`raycxr.data._testset`; the hashes are
:mod:`raycxr.data._hashing`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._hashing import hash_files
from raycxr.data._index import DatasetIndex, data_root, relative_files
from raycxr.data._listing import listing
from raycxr.data._testset import TestSpec, draw_test, index_groups

log = logging.getLogger(__name__)

COLUMNS = ("file", "class", "group", "role", "sha256")
ROLES = ("dev", "test")


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


def make_manifest(index: DatasetIndex, root: str | Path, spec: TestSpec, workers: int | None = None) -> Manifest:
    """Partition ``index`` into dev and test as ``spec`` says (:func:`draw_test`), and hash every file.

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
    test = draw_test(index, root, spec)
    files = relative_files(index, root)
    order = np.argsort(np.asarray(files, dtype=object), kind="stable")  # independent of the index order
    groups = index_groups(index)
    digests = hash_files([index.paths[i] for i in order], workers)
    table = pd.DataFrame(
        {
            "file": [files[i] for i in order],
            "class": index.label_names(order),
            "group": [groups[i] for i in order],
            "role": np.where(test[order], "test", "dev"),
            "sha256": digests,
        }
    )
    return Manifest(table)


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
        lines = [f"  {len(names)} {what}: {listing(names, 10)}" for names, what in parts if names]
        if self.new:
            ignored = "" if allow_new else "; not allowed"
            lines.append(f"  {len(self.new)} new, not part of the experiment{ignored}: {listing(self.new, 10)}")
        head = f"The data under {data_root(root)} no longer match {manifest._name()}:"
        return "\n".join([head, *lines])


def _compare(manifest: Manifest, index: DatasetIndex, root: str | Path, check_hashes: bool) -> _Diff:
    files = relative_files(index, root)
    row_of = {f: i for i, f in enumerate(files)}
    table = manifest.table
    present = np.array([f in row_of and index.paths[row_of[f]].is_file() for f in table["file"]], dtype=bool)
    missing = table["file"][~present].tolist()
    kept = table[present]
    current = index.label_names(np.array([row_of[f] for f in kept["file"]], dtype=np.int64))
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
            listing(diff.new, 10),
        )
    return diff.new
