"""Index a chest X-ray dataset: one row per image with its label(s) and (optional) group."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from raycxr.data._labels import check_multilabel

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".dcm", ".dicom"})


@dataclasses.dataclass(frozen=True)
class DatasetIndex:
    """The images of a dataset, their labels and, when known, their groups.

    A single-label index has ``(N,)`` int64 labels (one class per image); a multi-label one
    (:attr:`multilabel`) has ``(N, L)`` float32 labels, one column per finding, each value
    1 (positive), 0 (negative), -1 (uncertain) or NaN (not mentioned), see
    :mod:`raycxr.data._labels`.

    Attributes:
        paths: Absolute image paths, in a fixed (sorted) order.
        labels: Integer label of each image, an index into ``classes``; or, multi-label,
            an ``(N, len(classes))`` float array of 1 / 0 / -1 / NaN.
        classes: Class names; their order defines the label integers and is recorded
            with every result. Multi-label: the label names, in column order.
        groups: Group (e.g. the image's source) of each image, or ``None``.
        absent: File stems (upper case) of images the task leaves out (classes not in
            ``--classes``): fold files may name them; they are skipped, not errors.
        official_test: Which images the dataset's own test split holds (a boolean mask), or
            ``None`` when the dataset has no official split (see :mod:`raycxr.data._datasets`).
    """

    paths: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    absent: frozenset[str] = frozenset()
    official_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels.")
        if self.groups is not None and len(self.groups) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.groups)} groups.")
        if self.official_test is not None and len(self.official_test) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.official_test)} official-test flags.")
        if self.labels.ndim > 2:
            raise ValueError(f"labels must be (N,) class indices or (N, L) label values, not {self.labels.shape}.")
        if self.labels.ndim == 2:
            check_multilabel(self.labels, self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def multilabel(self) -> bool:
        """Whether ``labels`` is ``(N, L)`` multi-label values rather than one class per image."""
        return self.labels.ndim == 2

    @property
    def class_counts(self) -> np.ndarray:
        """Number of images of each class, in class order; multi-label: the positives (1) of each label."""
        if self.multilabel:
            return (self.labels == 1).sum(axis=0).astype(np.int64)
        return np.bincount(self.labels, minlength=len(self.classes))

    def label_names(self, rows: np.ndarray | None = None) -> list[str]:
        """Each image's label as text (of ``rows``, default all): its class, or multi-label its
        positive findings joined by ``|`` (``(none)`` for none) — how records and audits write them."""
        picked = self.labels if rows is None else self.labels[rows]
        if not self.multilabel:
            return [self.classes[int(y)] for y in picked]
        return ["|".join(c for c, v in zip(self.classes, row) if v == 1) or "(none)" for row in picked]

    @functools.cached_property
    def stems(self) -> tuple[str, ...]:
        """File names without suffix (how the paper's fold files name images)."""
        return tuple(p.stem for p in self.paths)

    def subset(self, keep: np.ndarray) -> DatasetIndex:
        """The index restricted to the rows ``keep`` (indices or a boolean mask)."""
        keep = np.flatnonzero(keep) if keep.dtype == bool else np.asarray(keep)
        return DatasetIndex(
            paths=tuple(self.paths[i] for i in keep),
            labels=self.labels[keep],
            classes=self.classes,
            groups=None if self.groups is None else self.groups[keep],
            absent=self.absent,
            official_test=None if self.official_test is None else self.official_test[keep],
        )


def _check_classes(classes: list[str], counts: dict[str, int], source: Path) -> None:
    if len(classes) < 2:
        raise ValueError(f"{source}: found {len(classes)} class(es) {classes}; at least two are needed.")
    empty = [c for c in classes if counts.get(c, 0) == 0]
    if empty:
        raise ValueError(f"{source}: class(es) {empty} have no images.")


def _read_kaggle_groups(class_dir: Path, stems: list[str]) -> list[str] | None:
    """Each image's source URL from a Kaggle ``<Class>.metadata.xlsx`` sheet, if present.

    The Kaggle COVID-19 Radiography Database ships one metadata sheet per class with the
    columns ``FILE NAME`` and ``URL``; the URL is the image's source and the only grouping
    the dataset offers.
    """
    candidates = [p for p in class_dir.parent.glob(f"{class_dir.name}.metadata.*") if p.suffix in {".xlsx", ".csv"}]
    if not candidates:
        return None
    sheet = candidates[0]
    table = pd.read_csv(sheet) if sheet.suffix == ".csv" else pd.read_excel(sheet)
    if not {"FILE NAME", "URL"} <= set(table.columns):
        return None
    by_name = dict(zip(table["FILE NAME"].astype(str).str.upper(), table["URL"].astype(str)))
    return [by_name.get(s.upper(), "unknown") for s in stems]


def index_folder(root: str | Path) -> DatasetIndex:
    """Index a folder of class sub-folders.

    Accepts the Kaggle COVID-19 Radiography layout ``<Class>/images/*.png`` (class names
    may contain spaces) and plain ``<Class>/*.png``. Classes are sorted by name. When the
    Kaggle metadata sheets (``<Class>.metadata.csv`` or ``.xlsx`` with ``FILE NAME`` and
    ``URL``) are present, the URL becomes each image's group.

    Raises:
        ValueError: The folder does not exist, has fewer than two classes, or a class has
            no images.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"Data directory {root} does not exist or is not a directory.")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths: list[Path] = []
    labels: list[int] = []
    groups: list[str] = []
    have_groups = True
    counts: dict[str, int] = {}
    for label, class_dir in enumerate(class_dirs):
        image_dir = class_dir / "images" if (class_dir / "images").is_dir() else class_dir
        files = sorted(p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        counts[class_dir.name] = len(files)
        paths += files
        labels += [label] * len(files)
        class_groups = _read_kaggle_groups(class_dir, [p.stem for p in files])
        have_groups = have_groups and class_groups is not None
        groups += class_groups or []
    classes = [d.name for d in class_dirs]
    _check_classes(classes, counts, root)
    return DatasetIndex(
        paths=tuple(paths),
        labels=np.asarray(labels, dtype=np.int64),
        classes=tuple(classes),
        groups=np.asarray(groups) if have_groups else None,
    )


def index_csv(csv_path: str | Path, classes: list[str] | None = None) -> DatasetIndex:
    """Index a CSV file with the columns ``path,label[,group]``.

    Relative paths are resolved against the CSV's folder.

    Args:
        csv_path: The CSV file.
        classes: The class order. Defaults to the sorted distinct labels; when given, a
            label outside it is an error.

    Raises:
        ValueError: The file is missing, lacks a column, names an unknown label, or
            yields fewer than two non-empty classes.
    """
    csv_path = Path(csv_path).expanduser().resolve()
    if not csv_path.is_file():
        raise ValueError(f"Dataset CSV {csv_path} does not exist.")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)}; expected 'path,label[,group]'.")
    names = sorted(set(table["label"])) if classes is None else list(classes)
    unknown = sorted(set(table["label"]) - set(names))
    if unknown:
        first = table.index[table["label"] == unknown[0]][0] + 2  # header is line 1
        raise ValueError(f"{csv_path}, line {first}: label {unknown[0]!r} is not one of the classes {names}.")
    _check_classes(names, table["label"].value_counts().to_dict(), csv_path)
    paths = tuple((csv_path.parent / p).resolve() for p in table["path"])
    lookup = {name: i for i, name in enumerate(names)}
    return DatasetIndex(
        paths=paths,
        labels=table["label"].map(lookup).to_numpy(dtype=np.int64),
        classes=tuple(names),
        groups=table["group"].to_numpy() if "group" in table.columns else None,
    )


def index_dataset(source: str | Path) -> DatasetIndex:
    """Index a dataset folder or CSV file (dispatching on what ``source`` is)."""
    source = Path(source).expanduser()
    if source.suffix.lower() == ".csv":
        return index_csv(source)
    return index_folder(source)


def data_root(root: str | Path) -> Path:
    """The folder a dataset's relative paths start from: ``root`` itself, or a dataset CSV's folder."""
    root = Path(root).expanduser().resolve()
    return root if root.is_dir() else root.parent


def relative_files(index: DatasetIndex, root: str | Path) -> list[str]:
    """Each image's POSIX path relative to :func:`data_root` of ``root``, row-aligned with ``index``."""
    base = str(data_root(root))
    return [Path(os.path.relpath(path, base)).as_posix() for path in index.paths]
