"""The resampling design of a bootstrap: which unit is drawn, chosen from how the test set was drawn.

A bootstrap is honest when it resamples the unit by which the test set was drawn from the
population. A test set drawn image by image (``--test-fraction``, stratified by class, or a
file list) is resampled image by image, within each class; a test set made of whole groups
(held-out sources, a group split) is resampled group by group. A group bootstrap with few
groups is unreliable (with 8 sources a resample misses a given source with probability
(7/8)^8 ≈ 0.34, so a class that lives in one source is lost from a third of the resamples), so
below :data:`MIN_GROUPS` groups :func:`resampling_design` falls back to images and says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

import numpy as np

from raycxr.evaluation._checks import check_groups

#: Fewest groups for a group bootstrap; below it the percentile interval of a cluster bootstrap
#: is too unstable to report (the usual rule of thumb is 20–30 clusters).
MIN_GROUPS = 20
#: Draws tried per resample before a group resample that still lacks a class is kept as it is.
MAX_DRAWS = 100

IMAGE_UNIT = "image (stratified by class)"


@dataclasses.dataclass(frozen=True)
class Design:
    """How a bootstrap resamples a test set.

    Attributes:
        unit: ``"image"`` (images drawn with replacement within each class, so every class
            keeps its count) or ``"group"`` (whole groups drawn with replacement).
        groups: Group of every test row (strings) for the group unit, else ``None``.
        n_groups: Distinct groups resampled (0 for the image unit).
        note: Why the design differs from what the caller asked for (e.g. ``"7 groups < 20:
            resampled images"``), or ``""``.
    """

    unit: Literal["image", "group"] = "image"
    groups: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    n_groups: int = 0
    note: str = ""

    @property
    def description(self) -> str:
        """The resampling unit in words: ``"image (stratified by class)"`` or ``"group (N groups)"``."""
        return IMAGE_UNIT if self.unit == "image" else f"group ({self.n_groups} groups)"


#: The default design: images, stratified by class.
IMAGES = Design()


def resampling_design(
    test_drawn_by: Literal["images", "groups"], groups: object | None = None, *, min_groups: int = MIN_GROUPS
) -> Design:
    """The bootstrap design that matches how the test set was drawn.

    Args:
        test_drawn_by: ``"images"`` for a test set drawn image by image (a stratified fraction,
            a file list); ``"groups"`` for a test set of whole groups (held-out sources, a
            group split).
        groups: Group of every test row, shape (n,); needed for ``"groups"``, ignored for ``"images"``.
        min_groups: Fewest distinct groups for a group bootstrap (at least 2); with fewer the
            design resamples images and its ``note`` says why.

    Raises:
        ValueError: An unknown ``test_drawn_by``, ``min_groups`` below 2, or ``groups`` not 1-D.
    """
    if test_drawn_by not in ("images", "groups"):
        raise ValueError(f"test_drawn_by must be 'images' or 'groups', got {test_drawn_by!r}")
    if isinstance(min_groups, bool) or not isinstance(min_groups, int | np.integer) or min_groups < 2:
        raise ValueError(f"min_groups must be an integer >= 2, got {min_groups!r}")
    if test_drawn_by == "images":
        return IMAGES
    if groups is None:
        return Design(note="no groups given: resampled images")
    g = np.asarray(groups)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"groups must be a non-empty 1-D array (one group per test row), got shape {g.shape}")
    g = g.astype(str)
    n_groups = len(np.unique(g))
    if n_groups < min_groups:
        return Design(note=f"{n_groups} group{'s' if n_groups > 1 else ''} < {min_groups}: resampled images")
    return Design("group", g, n_groups)


def checked_design(design: Design | None, groups: object | None, n: int) -> Design:
    """The design to use: ``design``, or the one ``groups`` implies (the old ``groups=`` argument)."""
    if design is not None and groups is not None:
        raise ValueError("give design or groups, not both (groups=G means design=resampling_design('groups', G))")
    if design is None:
        design = IMAGES if groups is None else resampling_design("groups", check_groups(groups, n))
    if not isinstance(design, Design):
        raise ValueError(f"design must be a Design (see resampling_design), got {type(design).__name__}")
    if design.unit == "group":
        check_groups(design.groups, n, "design.groups")
    return design


def resample_indices(y: np.ndarray, design: Design, n_boot: int, seed: int) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``n_boot`` pairs (row indices of one resample, draws discarded before it).

    Image unit: each class's ``n_c`` rows are drawn ``n_c`` times with replacement, so no class
    is ever lost and the class counts stay those of the test set (as the stratified draw of
    the test set fixed them). Group unit: as many groups as there are, drawn with replacement,
    each taking all its rows (so a resample's length varies). A group resample that lacks a
    class present in the test set is **redrawn** (up to :data:`MAX_DRAWS` draws, then kept):
    the interval is then the bootstrap distribution conditional on every class being present,
    which is what a macro metric needs to be defined. We redraw rather than stratify the
    groups by their majority class because a class that is nobody's majority would still be
    lost, and fixing the strata would narrow the interval of a test set whose groups were not
    drawn by stratum. The number of discarded draws is reported, never hidden.
    """
    rng = np.random.default_rng(seed)
    if design.unit == "image":
        order = np.argsort(y, kind="stable")  # rows of class 0, then class 1, ...
        sizes = np.bincount(y)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        start_of, size_of = starts[y[order]], sizes[y[order]]
        for _ in range(n_boot):  # floor(u · n_c) is uniform on 0 … n_c − 1 (and 5× faster than integers(0, size_of))
            yield order[start_of + (rng.random(len(y)) * size_of).astype(np.int64)], 0
        return
    _, codes = np.unique(design.groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # rows of group 0, then group 1, ...
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    n_groups = len(sizes)
    k = int(y.max()) + 1
    has_class = np.zeros((n_groups, k), dtype=bool)
    has_class[codes, y] = True
    present = has_class.any(axis=0)
    for _ in range(n_boot):
        discarded = -1
        while discarded < MAX_DRAWS - 1:
            discarded += 1
            drawn = rng.integers(0, n_groups, size=n_groups)
            if np.array_equal(has_class[drawn].any(axis=0), present):
                break
        lengths = sizes[drawn]
        ends = np.cumsum(lengths)
        within = np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)  # position inside its group
        yield order[np.repeat(starts[drawn], lengths) + within], discarded


def single_group_classes(y: np.ndarray, design: Design) -> list[int]:
    """Classes of the test set found in one group only (a group bootstrap cannot vary their source)."""
    if design.unit != "group":
        return []
    pairs = np.unique(np.column_stack([np.unique(design.groups, return_inverse=True)[1], y]), axis=0)
    counts = np.bincount(pairs[:, 1], minlength=int(y.max()) + 1)
    return [int(c) for c in np.flatnonzero(counts == 1)]
