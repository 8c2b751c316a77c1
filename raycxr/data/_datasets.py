"""The dataset registry: every dataset layout raycxr reads declares its name, reader and facts in one place.

A dataset is added by decorating its reader in one file (imported by ``raycxr/data/__init__``)::

    @register_dataset(
        "my-dataset",
        description="what it is and where it comes from",
        layout="labels.csv (image,finding); images/<image>.png",
        classes=("negative", "positive"),
        groups="patients",
        official_split="test.csv",
        detect=lambda root: (root / "labels.csv").is_file(),
    )
    def _read(root: Path, variant: str | None) -> DatasetIndex:
        ...

``--dataset auto`` (the default) asks every adapter's ``detect``: exactly one yes picks it;
none falls back to ``csv`` for a ``.csv`` file and ``folder`` for a folder; several is an
error naming them. The name chosen is recorded with the experiment, so every later command
reads the data the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from raycxr.data._index import DatasetIndex

#: ``read(root, variant) -> DatasetIndex``; ``variant`` is the text after ``NAME:`` (or ``None``).
Reader = Callable[[Path, "str | None"], DatasetIndex]
#: ``detect(root) -> bool``: whether ``root`` is this dataset, when its layout says so unambiguously.
Detector = Callable[[Path], bool]
AUTO = "auto"


def _never(root: Path) -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class DatasetAdapter:
    """One dataset layout raycxr reads.

    Attributes:
        name: What ``--dataset`` calls it.
        description: One line: the dataset and where it comes from.
        layout: The files it reads, in a few words.
        read: The reader (see :data:`Reader`); its docstring documents the layout.
        classes: The labels it can produce; ``None`` when they come from the data (folder
            names, a CSV column).
        groups: What its groups are (``"patients"``, ``"sources (URL)"``); ``""`` for none.
        views: The views its images come in, when it records them.
        official_split: Its own test split, in words; ``""`` when it has none.
        detect: Auto-detection; never true for a layout another dataset shares.
        variants: ``{variant: what it changes}``, chosen with ``--dataset NAME:VARIANT``.
    """

    name: str
    description: str
    layout: str
    read: Reader
    classes: tuple[str, ...] | None = None
    groups: str = ""
    views: tuple[str, ...] = ()
    official_split: str = ""
    detect: Detector = _never
    variants: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))


_REGISTRY: dict[str, DatasetAdapter] = {}
#: Every registered dataset by name (read-only).
DATASETS: Mapping[str, DatasetAdapter] = MappingProxyType(_REGISTRY)


def register_dataset(
    name: str,
    *,
    description: str,
    layout: str,
    classes: tuple[str, ...] | None = None,
    groups: str = "",
    views: tuple[str, ...] = (),
    official_split: str = "",
    detect: Detector = _never,
    variants: Mapping[str, str] | None = None,
) -> Callable[[Reader], Reader]:
    """Register the decorated reader as the dataset ``name`` (see :class:`DatasetAdapter`).

    Raises:
        ValueError: ``name`` is taken, is ``auto`` or contains ``:``.
    """
    if name in _REGISTRY or name == AUTO or ":" in name:
        raise ValueError(f"dataset name {name!r} is taken or reserved.")

    def decorate(read: Reader) -> Reader:
        _REGISTRY[name] = DatasetAdapter(
            name, description, layout, read, classes, groups, views, official_split, detect,
            MappingProxyType(dict(variants or {})),
        )  # fmt: skip
        return read

    return decorate


def dataset_names() -> tuple[str, ...]:
    """The registered dataset names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_dataset(name: str) -> tuple[DatasetAdapter, str | None]:
    """The adapter and variant of ``NAME`` or ``NAME:VARIANT``.

    Raises:
        ValueError: An unknown name or variant (the message lists the choices).
    """
    base, _, variant = name.partition(":")
    if base not in _REGISTRY:
        raise ValueError(f"--dataset: unknown dataset {name!r}; choose one of {AUTO}, {', '.join(dataset_names())}.")
    adapter = _REGISTRY[base]
    if variant and variant not in adapter.variants:
        choices = ", ".join(f"{base}:{v}" for v in adapter.variants) or f"none (use --dataset {base})"
        raise ValueError(f"--dataset: {base} has no variant {variant!r}; its variants: {choices}.")
    return adapter, variant or None


def check_dataset_name(name: str) -> str:
    """``name`` if it is ``auto`` or a registered ``NAME[:VARIANT]``; the one check of a ``dataset`` setting.

    Raises:
        ValueError: An unknown name or variant (the message lists the choices).
    """
    if name != AUTO:
        get_dataset(name)
    return name


def detect_dataset(root: str | Path) -> str:
    """The dataset ``--dataset auto`` reads at ``root``: the one adapter whose ``detect`` says yes,
    else ``csv`` for a ``.csv`` file and ``folder`` for anything else.

    Raises:
        ValueError: Several adapters recognise ``root`` (they are named: choose with ``--dataset``).
    """
    root = Path(root).expanduser().resolve()
    found = [name for name in dataset_names() if _REGISTRY[name].detect(root)]
    if len(found) > 1:
        raise ValueError(f"--dataset auto: {root} looks like {' and '.join(found)}; choose one with --dataset.")
    if found:
        return found[0]
    return "csv" if root.suffix.lower() == ".csv" else "folder"


def resolve_dataset(root: str | Path, name: str = AUTO) -> str:
    """``name`` checked, or (for ``auto``) the detected dataset: what an experiment records.

    Raises:
        ValueError: An unknown name or variant, or an ambiguous ``auto``.
    """
    if name == AUTO:
        return detect_dataset(root)
    get_dataset(name)
    return name


def read_dataset(root: str | Path, name: str = AUTO) -> DatasetIndex:
    """The index of the dataset at ``root``, read by the adapter ``name`` (``auto``: detected).

    Raises:
        ValueError: One line: an unknown or ambiguous dataset, or anything its reader refuses
            (a missing file or column, unknown labels, listed images missing on disk …).
    """
    adapter, variant = get_dataset(resolve_dataset(root, name))
    return adapter.read(Path(root).expanduser().resolve(), variant)


def check_dataset_use(name: str, official: bool, group: bool) -> None:
    """Refuse, before any data is read, what the dataset ``name`` declares it cannot do.

    Raises:
        ValueError: ``official`` on a dataset without an official test split, or ``group`` (a
            group split) on one declared without groups.
    """
    adapter, _ = get_dataset(name)
    if official and not adapter.official_split:
        raise ValueError(
            f"--test-split official: dataset {adapter.name} has no official test split; use --test-fraction, "
            "--test-files or --test-source."
        )
    if group and not adapter.groups:
        raise ValueError(f"split 'group' needs groups, but dataset {adapter.name} has none.")
