"""One registry shape for optimizers and schedules: a name, a builder, a parameter schema, a docstring.

The same shape as the loss registry (:mod:`raycxr.losses`): every parameter is a TrainConfig
field declared with a :class:`~raycxr.params.ParamSpec` (default and valid range), so a search
space, a ``--set`` value and a command-line option are checked by the declaring entry's range.
A ``check`` hook holds the rules between parameters (SGD's Nesterov needs momentum).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from raycxr.params import ParamSpec, checked_params, shown

B = TypeVar("B", bound=Callable[..., Any])

#: ``check(params, settings)``: raise a one-line ValueError for a combination of the entry's
#: parameters (and the run's other settings: ``epochs``, ``patience``…) that it cannot use.
Check = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class Entry(Generic[B]):
    """A registered optimizer or schedule.

    Attributes:
        name: Its name (the TrainConfig ``optimizer`` / ``schedule`` value).
        builder: Makes it (see the registry's builder type).
        params: The TrainConfig fields it reads, with defaults and valid ranges.
        description: One line.
        check: Rules between its parameters, or ``None``.
    """

    name: str
    builder: B
    params: tuple[ParamSpec, ...]
    description: str
    check: Check | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


class Registry(Generic[B]):
    """Entries of one kind (``optimizer`` or ``schedule``) by name, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[B]] = {}
        #: Read-only view, name → :class:`Entry` (``tuple(view)`` is the names).
        self.view: Mapping[str, Entry[B]] = MappingProxyType(self._entries)

    def register(
        self, name: str, *, description: str, params: Sequence[ParamSpec] = (), check: Check | None = None
    ) -> Callable[[B], B]:
        """Decorator registering a builder under ``name``; returns the builder unchanged.

        Raises:
            ValueError: ``name`` is taken or not an identifier, a parameter is declared twice,
                or a default lies outside its own range.
        """
        params = checked_params(self.kind, name, params)

        def decorate(builder: B) -> B:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._entries[name] = Entry(name, builder, params, description, check)
            return builder

        return decorate

    def get(self, name: str) -> Entry[B]:
        """The entry ``name``.

        Raises:
            ValueError: No entry has that name (the message lists those that do).
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self.kind} must be one of {', '.join(self._entries)}, got {name!r}.") from None

    def fields(self) -> tuple[str, ...]:
        """Every parameter name some entry declares (the TrainConfig fields this registry reads)."""
        return tuple(dict.fromkeys(p.name for e in self._entries.values() for p in e.params))

    def values(self, name: str, settings: Mapping[str, object]) -> dict[str, Any]:
        """The parameters of ``name`` from ``settings`` (a whole config dump will do), defaults filled, checked.

        Args:
            name: A registered entry.
            settings: Values by field name (a whole config dump: the ``check`` may read other
                settings); undeclared keys are ignored, missing or ``None`` ones take their default.

        Raises:
            ValueError: One line naming the entry, the parameter, its value and the valid range;
                or a combination the entry's ``check`` refuses.
        """
        entry = self.get(name)
        values = {p.name: p.default if settings.get(p.name) is None else settings[p.name] for p in entry.params}
        for p in entry.params:
            p.check(values[p.name], name, self.kind)
        if entry.check is not None:
            entry.check(values, settings)
        return values

    def check_field(self, field: str, value: object, name: str | None = None) -> None:
        """Check one setting by the range of ``name`` when it declares ``field``.

        Otherwise the run's entry does not read it, and the value must only be valid for some
        entry that declares it (a value no entry could use is a mistake wherever it is given).

        Raises:
            ValueError: One line naming the entry, the field, its range and the value.
        """
        if name in self._entries and field in self._entries[name].param_names:
            self._spec(name, field).check(value, name, self.kind)
            return
        errors = []
        for entry in self._entries.values():
            if field not in entry.param_names:
                continue
            try:
                self._spec(entry.name, field).check(value, entry.name, self.kind)
            except ValueError:
                errors.append(f"{self._spec(entry.name, field).expected()} ({self.kind} {entry.name!r})")
            else:
                return
        if errors:
            raise ValueError(f"{field} must be {' or '.join(dict.fromkeys(errors))}, got {shown(value)}.")

    def _spec(self, name: str, field: str) -> ParamSpec:
        return next(p for p in self._entries[name].params if p.name == field)
