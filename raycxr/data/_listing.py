"""Name a few of many things in a one-line message."""

from __future__ import annotations

from collections.abc import Sequence

#: Names shown per problem in a message.
SHOWN = 5


def listing(names: Sequence[object], limit: int = SHOWN) -> str:
    """The first ``limit`` names, comma-separated, then ``… (N in all)`` when there are more."""
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")
