"""The task: which classes of the dataset a run learns (``--classes``), merged how (``--class-map``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from raycxr.data._index import DatasetIndex


def select_task(
    index: DatasetIndex, classes: Sequence[str] | None = None, class_map: Mapping[str, str] | None = None
) -> DatasetIndex:
    """The index of the task: classes merged by ``class_map``, then restricted to ``classes``.

    Class names are matched case-insensitively; the labels follow the order of ``classes``
    (by default: the merged classes in the dataset's order). Images of the classes left out
    are gone from the result, their file stems kept in ``absent`` so that fold files
    naming them are read as if those images were not there.

    Args:
        index: The whole dataset.
        classes: Class names (after merging) to keep, in label order; ``None`` keeps all.
        class_map: ``{dataset class: new class}``; e.g. ``{"Lung_Opacity": "Other",
            "Viral Pneumonia": "Other"}`` merges two classes into ``Other``. Classes not
            named keep their name.

    Raises:
        ValueError: A name in ``class_map`` or ``classes`` is not a class of the dataset
            (the message lists them), a class is named twice, or fewer than two classes remain.
    """
    if not classes and not class_map:
        return index
    if index.multilabel:
        return _select_labels(index, classes, class_map)
    lookup = {c.lower(): c for c in index.classes}
    mapping = {c: c for c in index.classes}
    for source, target in (class_map or {}).items():
        if source.lower() not in lookup:
            raise ValueError(
                f"--class-map: {source!r} is not a class of the dataset (classes: {', '.join(index.classes)})."
            )
        mapping[lookup[source.lower()]] = target
    merged = list(dict.fromkeys(mapping[c] for c in index.classes))
    if classes:
        by_name = {c.lower(): c for c in merged}
        wanted = []
        for name in classes:
            if name.lower() not in by_name:
                raise ValueError(
                    f"--classes: {name!r} is not a class of the dataset"
                    f"{' after --class-map' if class_map else ''} (classes: {', '.join(merged)})."
                )
            if by_name[name.lower()] in wanted:
                raise ValueError(f"--classes names {name!r} twice.")
            wanted.append(by_name[name.lower()])
        merged = wanted
    if len(merged) < 2:
        raise ValueError(f"a task needs at least two classes, got {merged}.")
    label_of = {name: i for i, name in enumerate(merged)}
    new_labels = np.array([label_of.get(mapping[index.classes[y]], -1) for y in index.labels], dtype=np.int64)
    keep = new_labels >= 0
    absent = frozenset(index.stems[i].upper() for i in np.flatnonzero(~keep)) | index.absent
    return DatasetIndex(
        paths=tuple(p for p, k in zip(index.paths, keep) if k),
        labels=new_labels[keep],
        classes=tuple(merged),
        groups=None if index.groups is None else index.groups[keep],
        absent=absent,
        official_test=None if index.official_test is None else index.official_test[keep],
    )


def _select_labels(
    index: DatasetIndex, labels: Sequence[str] | None, class_map: Mapping[str, str] | None
) -> DatasetIndex:
    """A multi-label index restricted to the columns ``labels`` (in that order); every image stays."""
    if class_map:
        raise ValueError(
            "--class-map merges the classes of a single-label task; this dataset is multi-label: choose its labels "
            "with --classes."
        )
    lookup = {c.lower(): j for j, c in enumerate(index.classes)}
    columns: list[int] = []
    for name in labels or ():
        if name.lower() not in lookup:
            raise ValueError(f"--classes: {name!r} is not a label of the dataset (labels: {', '.join(index.classes)}).")
        if lookup[name.lower()] in columns:
            raise ValueError(f"--classes names {name!r} twice.")
        columns.append(lookup[name.lower()])
    return DatasetIndex(
        paths=index.paths,
        labels=index.labels[:, columns],
        classes=tuple(index.classes[j] for j in columns),
        groups=index.groups,
        absent=index.absent,
        official_test=index.official_test,
    )
