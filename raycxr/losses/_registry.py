"""The loss registry: every loss declares its name, builder, parameters and needs in one place.

A loss is added by decorating its builder in one file::

    @register_loss(
        "my_loss",
        description="what it computes",
        params=(ParamSpec("gamma", 2.0, "what gamma does", low=0.0, low_closed=True),),
    )
    def _my_loss(class_counts, classes, stats, params):
        return MyLoss(params["gamma"]), {"class_weights": ...}

A parameter's name is the :class:`~raycxr.train.TrainConfig` field it reads; its range is
what search spaces and command-line values are checked against.

A loss serves one kind of task. A **single-label** loss takes ``(B, K)`` logits (or one logit) and
integer targets ``(B,)``; its builder gets the training images per class. A **multi-label** loss
(``multilabel=True``) takes ``(B, L)`` logits, one per label, and float targets ``(B, L)`` with
NaN for unknown entries (:mod:`raycxr.multilabel`); its builder gets the training rows' known
negatives and positives of every label, ``[[negatives…], [positives…]]``. :func:`build_loss`
tells the task by the counts' shape, so the training loop calls it the same way for both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from torch import nn

from raycxr.losses._stats import ClassStats
from raycxr.params import ParamSpec, checked_params, shown

#: ``builder(class_counts, classes, stats, params) -> (module, info)``: ``params`` holds
#: every declared parameter (given or default, checked); ``info`` what the loss derived
#: (class weights…), which :func:`build_loss` adds to the loss name and parameters.
#: ``class_counts`` is ``[n_0, …, n_{K−1}]`` for a single-label loss and
#: ``[[negatives…], [positives…]]`` (one per label) for a multi-label one.
LossBuilder = Callable[
    [list[int] | list[list[int]], tuple[str, ...], ClassStats | None, dict[str, Any]],
    tuple[nn.Module, dict[str, object]],
]


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """A registered loss.

    Attributes:
        name: Its name (the TrainConfig ``loss`` value).
        builder: Makes the loss module and its info (see :data:`LossBuilder`).
        params: The TrainConfig fields it reads, with defaults and valid ranges.
        needs_stats: It needs the attention loss's :class:`ClassStats` of the training rows.
        binary_only: It needs exactly two classes (a model with one output logit).
        description: One line.
        smoothing: Its definition takes a smoothed target (the cross-entropy losses): its builder
            then reads ``label_smoothing`` ε, in [0, 1), from its parameters.
        multilabel: It is a multi-label loss (one sigmoid per label, float targets with NaN for
            unknown entries); the others are single-label. A loss serves one kind of task only.
    """

    name: str
    builder: LossBuilder
    params: tuple[ParamSpec, ...]
    needs_stats: bool
    binary_only: bool
    description: str
    smoothing: bool = False
    multilabel: bool = False

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> ParamSpec:
        """The declared parameter ``name``.

        Raises:
            KeyError: The loss declares no such parameter.
        """
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"loss {self.name!r} has no parameter {name!r} (it has {self.param_names}).")


_REGISTRY: dict[str, LossSpec] = {}

#: The registered losses, name → :class:`LossSpec`, in registration order (read-only;
#: ``tuple(LOSSES)`` is the names, ``name in LOSSES`` tests one).
LOSSES: Mapping[str, LossSpec] = MappingProxyType(_REGISTRY)


def register_loss(
    name: str,
    *,
    description: str,
    params: Sequence[ParamSpec] = (),
    needs_stats: bool = False,
    binary_only: bool = False,
    smoothing: bool = False,
    multilabel: bool = False,
) -> Callable[[LossBuilder], LossBuilder]:
    """Decorator registering a loss builder under ``name``; returns the builder unchanged.

    Raises:
        ValueError: ``name`` is taken or not an identifier, a parameter is declared twice,
            or a default lies outside its own range; or a multi-label loss is declared
            binary-only, needing statistics or taking label smoothing (all single-label notions).
    """
    params = checked_params("loss", name, params)
    if name in _REGISTRY:
        raise ValueError(f"loss {name!r} is already registered.")
    if multilabel and (binary_only or needs_stats or smoothing):
        raise ValueError(f"multi-label loss {name!r} cannot be binary_only, needs_stats or smoothing.")

    def decorate(builder: LossBuilder) -> LossBuilder:
        if name in _REGISTRY:
            raise ValueError(f"loss {name!r} is already registered.")
        _REGISTRY[name] = LossSpec(name, builder, params, needs_stats, binary_only, description, smoothing, multilabel)
        return builder

    return decorate


def loss_spec(name: str) -> LossSpec:
    """The registered loss ``name``.

    Raises:
        ValueError: No loss has that name (the message lists those that do).
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {', '.join(_REGISTRY)}, got {name!r}.") from None


def loss_params(name: str, values: Mapping[str, object]) -> dict[str, object]:
    """The parameters of loss ``name`` found in ``values`` (e.g. a whole TrainConfig dump)."""
    declared = loss_spec(name).param_names
    return {k: values[k] for k in declared if k in values}


def check_loss_params(name: str, params: Mapping[str, object]) -> None:
    """Check the given parameters of loss ``name`` against their ranges.

    Parameters the loss does not declare are ignored; those missing take their default.

    Raises:
        ValueError: One line naming the loss, the parameter, its value and the valid
            range; or ``name`` is unknown.
    """
    spec = loss_spec(name)
    for p in spec.params:
        if p.name in params:
            p.check(params[p.name], name)


def loss_fields() -> tuple[str, ...]:
    """Every parameter name some registered loss declares (the TrainConfig fields losses read)."""
    return tuple(dict.fromkeys(p.name for spec in _REGISTRY.values() for p in spec.params))


def check_loss_field(field: str, value: object, loss: str | None = None) -> None:
    """Check one setting a loss reads, by the registry's range: the one place loss bounds live.

    The range is that of ``loss`` when it declares ``field``. Otherwise the value is not read
    by the run's loss, and it must only be valid for some loss that declares it (a value no
    loss could use is a mistake wherever it is given).

    Raises:
        ValueError: One line naming the loss, the field, its range and the value; or, for
            a field ``loss`` does not read, every declaring loss's range.
    """
    if loss in _REGISTRY and field in _REGISTRY[loss].param_names:
        _REGISTRY[loss].param(field).check(value, loss)
        return
    declaring = [spec for spec in _REGISTRY.values() if field in spec.param_names]
    errors = []
    for spec in declaring:
        try:
            spec.param(field).check(value, spec.name)
        except ValueError:
            errors.append(f"{spec.param(field).expected()} (loss {spec.name!r})")
        else:
            return
    if errors:
        ranges = " or ".join(dict.fromkeys(errors))
        raise ValueError(f"{field} must be {ranges}, got {shown(value)}.")


def smoothing_losses() -> tuple[str, ...]:
    """The losses that take label smoothing (registered with ``smoothing=True``: the cross-entropy ones)."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.smoothing)


def check_label_smoothing(loss: str, value: object) -> None:
    """Refuse a ``label_smoothing`` outside [0, 1), or a non-zero one for a loss without a smoothed target.

    Raises:
        ValueError: One line naming the loss, the value and the range or the losses that do support it.
    """
    if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {shown(value)}.")
    if value and loss in _REGISTRY and loss not in smoothing_losses():
        raise ValueError(
            f"loss {loss!r} does not support label smoothing (label_smoothing={shown(value)}); "
            f"the losses that do: {', '.join(smoothing_losses())}."
        )


def multilabel_losses() -> tuple[str, ...]:
    """The multi-label losses (registered with ``multilabel=True``), in registration order."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.multilabel)


def single_label_losses() -> tuple[str, ...]:
    """The single-label losses (every other one), in registration order."""
    return tuple(name for name, spec in _REGISTRY.items() if not spec.multilabel)


def check_loss_task(name: str, multilabel: bool) -> None:
    """Refuse a loss for the other kind of task: the check a configuration makes before training.

    Raises:
        ValueError: One line naming the loss, its kind and the losses that fit the task; or
            ``name`` is unknown.
    """
    spec = loss_spec(name)
    if spec.multilabel == multilabel:
        return
    task, kind = ("a multi-label", "single-label") if multilabel else ("a single-label", "multi-label")
    fits = multilabel_losses() if multilabel else single_label_losses()
    raise ValueError(f"loss {name!r} is {kind}; {task} task takes one of: {', '.join(fits)}.")


def _counts(name: str, class_counts: object, classes: tuple[str, ...]) -> list[int] | list[list[int]]:
    """``class_counts`` checked against ``classes`` and the loss's task; plain ints."""
    arr = np.asarray(class_counts)
    multilabel = arr.ndim == 2
    if arr.ndim not in (1, 2) or (multilabel and arr.shape[0] != 2):
        raise ValueError(
            "class counts must be one count per class (a single-label task) or [[negatives…], [positives…]] "
            f"(a multi-label task), got shape {arr.shape}."
        )
    check_loss_task(name, multilabel)
    if arr.size and (arr.dtype.kind not in "iuf" or np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise ValueError(f"class counts must be non-negative integers, got {arr.tolist()}.")
    if arr.shape[-1] != len(classes):
        kind, kinds = ("label", "labels") if multilabel else ("class", "classes")
        raise ValueError(f"{arr.shape[-1]} {kind} counts for {len(classes)} {kinds} {list(classes)}.")
    return arr.astype(np.int64).tolist()


def build_loss(
    name: str,
    class_counts: Sequence[int],
    classes: Sequence[str],
    stats: ClassStats | None = None,
    params: Mapping[str, object] | None = None,
    **kwargs: object,
) -> tuple[nn.Module, dict[str, object]]:
    """The loss module ``name`` and what defines it.

    Args:
        name: A registered loss (:data:`LOSSES`).
        class_counts: A single-label task: training images per class, ``(K,)``. A multi-label
            task: the training rows' known negatives and positives of every label, ``(2, L)``
            (:func:`~raycxr.multilabel.label_counts`). The shape tells the task, so one call
            serves both.
        classes: Class names (labels of a multi-label task), in output order.
        stats: Class statistics of the training rows; needed by losses with ``needs_stats``.
        params: Parameter values by TrainConfig field name (a whole config dump will do:
            undeclared keys are ignored); missing ones take their registered default.
        **kwargs: Parameters given as keywords, the same as ``params`` (for callers that
            pass ``beta=…, q=…``); a key may not be in both.

    Returns:
        ``(module, info)``: ``info`` holds ``loss`` (the name), every declared parameter's
        value, and what the loss derived (``class_weights``…).

    Raises:
        ValueError: Unknown name; a loss of the other kind of task (:func:`check_loss_task`);
            a parameter out of range or missing; label smoothing for a loss without it; missing
            statistics; a binary-only loss on other than two classes; counts and classes that disagree.
    """
    spec = loss_spec(name)
    params = dict(params or {})
    both = sorted(set(params) & set(kwargs))
    if both:
        raise ValueError(f"build_loss got {both} both in params and as keywords.")
    params.update(kwargs)
    smoothing = params.get("label_smoothing") or 0.0
    check_label_smoothing(name, smoothing)
    values = {p.name: p.default if params.get(p.name) is None else params[p.name] for p in spec.params}
    check_loss_params(name, values)
    classes = tuple(classes)
    counts = _counts(name, class_counts, classes)
    if spec.binary_only and len(classes) != 2:
        raise ValueError(
            f"loss {name!r} is binary-only (one output logit) and needs 2 classes, got {len(classes)}: {list(classes)}."
        )
    if spec.needs_stats and stats is None:
        raise ValueError(f"loss {name!r} needs class statistics.")
    extra = {"label_smoothing": smoothing} if smoothing else {}  # in the info only when asked for
    module, info = spec.builder(counts, classes, stats, values | extra)
    return module, {"loss": name, **values, **extra, **info}
