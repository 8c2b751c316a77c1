"""Which of a model's labels another dataset can score: both label spaces mapped to the common one.

A model's labels are named as its training dataset names them (``Pleural Effusion`` of a
CheXpert model, ``Effusion`` of an NIH one); :data:`raycxr.data.LABEL_MAPS` says which common
label (:data:`raycxr.data.COMMON_LABELS`) each is. A model trained on a dataset without a map (a
csv of label columns) has its labels taken as common labels when they are spelled as one. The
labels scored are those whose common label the other dataset reports
(:func:`raycxr.data.shared_labels`); every other model label is skipped with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from raycxr.data import COMMON_LABELS, LABEL_MAPS, shared_labels


@dataclasses.dataclass(frozen=True)
class Alignment:
    """A model's labels lined up with another dataset's, in the common label space.

    Attributes:
        common: The shared labels scored, as common labels, in the model's output order.
        model_labels: The model's own name of each (``Pleural Effusion`` for ``Effusion``).
        columns: The model output (logit) of each.
        skipped: Model label → why it is not scored (not in the common space, not reported by the data).
    """

    common: tuple[str, ...]
    model_labels: tuple[str, ...]
    columns: tuple[int, ...]
    skipped: dict[str, str]

    def notes(self) -> list[str]:
        """One line per skipped model label."""
        return [f"label {name!r} skipped: {why}" for name, why in self.skipped.items()]


def label_map(dataset: str | None, classes: Sequence[str]) -> Mapping[str, str]:
    """``{label: common label}`` of a dataset's ``classes``: its :data:`LABEL_MAPS` entry (by the dataset's base
    name, ``nih`` of ``nih:VARIANT``), else the labels spelled as a common label, mapped to themselves."""
    base = (dataset or "").partition(":")[0]
    if base in LABEL_MAPS:
        return {name: LABEL_MAPS[base][name] for name in classes if name in LABEL_MAPS[base]}
    return {name: name for name in classes if name in COMMON_LABELS}


def align_labels(
    model_classes: Sequence[str], model_dataset: str | None, data_classes: Sequence[str], data_dataset: str
) -> Alignment:
    """The model's labels the data can score (see the module).

    Args:
        model_classes: The model's labels, in output order.
        model_dataset: The dataset it was trained on (its training configuration's ``dataset``).
        data_classes: The other dataset's labels (its adapter's names).
        data_dataset: The other dataset's name.

    Raises:
        ValueError: No shared label (one line naming both label sets).
    """
    mine = label_map(model_dataset, model_classes)
    reported = dict.fromkeys(label_map(data_dataset, data_classes).values())
    common_of_model = [mine[name] for name in model_classes if name in mine]
    shared = set(shared_labels(common_of_model, tuple(reported)))
    common, labels, columns, skipped = [], [], [], {}
    for k, name in enumerate(model_classes):
        target = mine.get(name)
        if target is None:
            skipped[name] = "not in the common label space"
        elif target not in shared:
            skipped[name] = f"{data_dataset} does not report {target!r}"
        elif target in common:
            skipped[name] = f"{target!r} is scored already (as the model's {labels[common.index(target)]!r})"
        else:
            common.append(target)
            labels.append(name)
            columns.append(k)
    if not common:
        raise ValueError(
            f"no shared label: the model's labels ({', '.join(model_classes)}) and {data_dataset}'s "
            f"({', '.join(data_classes)}) have none in common in the common label space."
        )
    return Alignment(tuple(common), tuple(labels), tuple(columns), skipped)
