"""A registered component's parameter: the TrainConfig field it reads, its default and valid range.

One schema for every registry (losses, optimizers, schedules): a search space's bounds, a
``--set`` value and a command-line option are all checked against the declaring component's
:class:`ParamSpec`. A public module (not ``raycxr._params``) so that every package may import
it without reaching into another package's private module; it imports nothing of raycxr.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Literal


def _bound(value: float) -> str:
    return f"{value:g}"


def shown(value: object) -> str:
    """``value`` as an error message shows it (numbers as int or float, the rest as repr)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return repr(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One parameter of a registered component (a loss, an optimizer, a schedule).

    Attributes:
        name: The TrainConfig field the component reads (``beta``, ``focal_gamma``, ``momentum``…).
        default: Its value when not given; ``None`` means the component needs it given.
        description: One line.
        low, high: Ends of the valid range; ``-inf`` / ``inf`` for none. NaN and ±inf
            are never valid.
        low_closed, high_closed: Whether ``low`` / ``high`` themselves are valid.
        kind: ``"real"`` (one number), ``"reals"`` (a sequence of numbers, each in the range)
            or ``"bool"`` (true or false; the range is not used).
        choices: Strings also accepted (presets such as ``"paper"``).
        scales: How the parameter changes the loss's value for the same predictions, ending
            in what a lower loss would then mean (``"scales the attention loss linearly, so a
            lower loss would mean a smaller n"``); empty when it does not. Trials that differ
            in such a parameter cannot be ranked by their loss
            (:func:`~raycxr.losses.check_loss_objective`).
    """

    name: str
    default: object
    description: str
    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = False
    high_closed: bool = False
    kind: Literal["real", "reals", "bool"] = "real"
    choices: tuple[str, ...] = ()
    scales: str = ""

    @property
    def bounded(self) -> bool:
        """Whether the range has a finite end."""
        return math.isfinite(self.low) or math.isfinite(self.high)

    @property
    def required(self) -> bool:
        return self.default is None

    def contains(self, x: float) -> bool:
        """Whether the number ``x`` lies in the range (NaN and ±inf never do)."""
        if not _is_real(x) or not math.isfinite(x):
            return False
        above = x >= self.low if self.low_closed else x > self.low
        below = x <= self.high if self.high_closed else x < self.high
        return above and below

    def range_text(self) -> str:
        """The range in words: ``≥ 0``, ``> 0``, ``in (0, 1]``, ``finite``."""
        low, high = math.isfinite(self.low), math.isfinite(self.high)
        if low and high:
            left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
            return f"in {left}{_bound(self.low)}, {_bound(self.high)}{right}"
        if low:
            return f"{'≥' if self.low_closed else '>'} {_bound(self.low)}"
        if high:
            return f"{'≤' if self.high_closed else '<'} {_bound(self.high)}"
        return "finite"

    def expected(self) -> str:
        """What a valid value is, in words (for error messages)."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "reals":
            text = f"a list of numbers, each {self.range_text()}"
        else:
            text = "a finite number" if not self.bounded else f"a number {self.range_text()}"
        if self.choices:
            text += " or one of " + ", ".join(repr(c) for c in self.choices)
        return text

    def check(self, value: object, owner: str, kind: str = "loss") -> None:
        """Raise a one-line ValueError naming ``kind owner``, this parameter, ``value`` and the range.

        Args:
            value: The value to check; ``None`` is refused only when the parameter is
                required (it means "the default").
            owner: The declaring component's name (``'focal'``, ``'sgd'``).
            kind: What the component is (``loss``, ``optimizer``, ``schedule``), for the message.
        """
        where = f"{kind} {owner!r}"
        if value is None:
            if self.required:
                raise ValueError(f"{where} needs {self.name}: {self.expected()} ({self.description}).")
            return
        if isinstance(value, str) and value in self.choices:
            return
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {self.name} must be {self.expected()}, got {shown(value)}.")
            return
        if self.kind == "real":
            if not _is_real(value) or not math.isfinite(value):
                raise ValueError(f"{where}: {self.name} must be {self.expected()}, got {shown(value)}.")
            if not self.contains(value):
                raise ValueError(f"{where}: {self.name} must be {self.range_text()}, got {shown(value)}.")
            return
        if (
            isinstance(value, str)
            or not isinstance(value, Sequence)
            or len(value) == 0
            or not all(self.contains(v) for v in value)
        ):
            raise ValueError(f"{where}: {self.name} must be {self.expected()}, got {shown(value)}.")


def checked_params(kind: str, name: str, params: Sequence[ParamSpec]) -> tuple[ParamSpec, ...]:
    """The parameters an entry ``name`` of a ``kind`` registry declares, checked when it registers.

    Raises:
        ValueError: ``name`` is not an identifier, a parameter is declared twice, or a default
            lies outside its own range.
    """
    if not name.isidentifier():
        raise ValueError(f"{kind} name must be an identifier, got {name!r}.")
    params = tuple(params)
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} {name!r} declares a parameter twice: {names}.")
    for p in params:
        if p.default is not None:
            p.check(p.default, name, kind)
    return params
