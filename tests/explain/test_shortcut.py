from __future__ import annotations

import numpy as np
import pytest

from raycxr.explain import band_area, border_mass, corner_mass, default_threshold, shortcut_table

# 50 × 50 at border 0.1: edge rows and columns 0…4 and 45…49, interior 40 × 40.
BAND, CORNERS = 1 - 40 * 40 / 2500, 4 * 25 / 2500  # 0.36, 0.04


def test_uniform_map_puts_the_area_fraction_there() -> None:
    maps = np.full((2, 50, 50), 0.3)
    np.testing.assert_allclose(border_mass(maps), [BAND, BAND])
    np.testing.assert_allclose(corner_mass(maps), [CORNERS, CORNERS])
    assert band_area((50, 50)) == pytest.approx((BAND, CORNERS))


def test_hand_computed_maps() -> None:
    maps = np.zeros((4, 50, 50))
    maps[0, 0, :] = 1.0  # top row: 50 in the band, 10 of it in the two top corners
    maps[0, 25, 25] = 50.0  # centre: 50 in the interior
    maps[1, 5:45, 5:45] = 1.0  # the whole interior
    maps[2, :, :] = 1.0
    maps[2, 5:45, 5:45] = 0.0  # the whole band
    maps[3, 49, 20] = 1.0  # one pixel in the bottom edge, not in a corner
    np.testing.assert_allclose(border_mass(maps), [0.5, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(corner_mass(maps), [0.1, 0.0, CORNERS / BAND, 0.0])
    assert border_mass(maps[1]).shape == (1,)  # one (H, W) map


def test_band_of_a_non_integer_width_and_of_a_wide_image() -> None:
    # 64 px at 0.1: 6.4 px, the 6 rows whose centres are within it (0…5, 58…63)
    assert band_area((64, 64))[0] == pytest.approx(1 - (52 / 64) ** 2)
    # 40 × 80: 4 edge rows, 8 edge columns on each side
    maps = np.zeros((1, 40, 80))
    maps[0, 10, 7] = maps[0, 10, 8] = 1.0
    assert border_mass(maps)[0] == 0.5
    assert band_area((40, 80)) == pytest.approx((1 - 32 * 64 / 3200, 4 * 4 * 8 / 3200))


def test_blank_and_bad_maps() -> None:
    assert np.isnan(border_mass(np.zeros((1, 10, 10))))[0]
    with pytest.raises(ValueError, match="non-negative"):
        border_mass(-np.ones((1, 10, 10)))
    with pytest.raises(ValueError, match="border"):
        corner_mass(np.ones((1, 10, 10)), border=0.5)


def test_default_threshold_is_twice_the_interior_density() -> None:
    threshold = default_threshold(BAND)
    assert threshold == pytest.approx(0.72 / 1.36)  # 0.53
    assert (threshold / BAND) / ((1 - threshold) / (1 - BAND)) == pytest.approx(2.0)
    assert default_threshold(0.9) < 1.0


def test_shortcut_table() -> None:
    maps = np.ones((7, 50, 50))
    maps[3:6, 5:45, 5:45] = 0.0  # class 1: all in the band
    maps[6] = 0.0  # class 2: one blank map
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    table = shortcut_table(maps, labels, ("uniform", "border", "blank", "absent"))
    assert list(table.columns) == ["class", "n", "blank", "border_mass", "corner_mass", "border_ratio", "flagged"]
    assert table["flagged"].tolist() == [False, True, False, False]
    assert table["n"].tolist() == [3, 3, 1, 0] and table["blank"].tolist() == [0, 0, 1, 0]
    assert table.loc[0, "border_mass"] == pytest.approx(BAND) and table.loc[0, "border_ratio"] == pytest.approx(1.0)
    assert table.loc[1, "border_mass"] == 1.0 and table.loc[1, "border_ratio"] == np.inf
    assert table.loc[1, "corner_mass"] == pytest.approx(CORNERS / BAND)
    assert table.loc[2:, "border_mass"].isna().all()
    assert table.attrs["threshold"] == pytest.approx(default_threshold(BAND))
    assert table.attrs["border_area"] == pytest.approx(BAND)
    assert shortcut_table(maps, labels, ("a", "b", "c", "d"), threshold=0.3)["flagged"].tolist()[:2] == [True, True]
