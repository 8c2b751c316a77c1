from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from raycxr.evaluation import subgroup_table
from tests.evaluation.tables import PROBA, Y

# Positive class 0 at threshold 0.4 on the table: proba[:, 0] = .90 .70 .35 .10 .25 .55 .10 .20 .03 .42
# called positive (≥ 0.4): rows 0, 1, 5, 9. Class-0 rows: 0, 1, 2, 9.
SUBGROUPS = np.array(["F", "F", "M", "M", "F", "M", "F", "M", "kid", "F"])
# F   rows 0 1 4 6 9: positives 0 1 9 all called -> sens 3/3; negatives 4 6 not called -> spec 2/2;
#     top-1 right on 0 1 4 6 9 -> acc 5/5
# M   rows 2 3 5 7:   positive 2 missed -> sens 0/1; negatives 3 7 not called, 5 called -> spec 2/3;
#     right on 3 7 -> acc 2/4
# kid row 8:          no positive -> sens NaN; negative not called -> spec 1/1; wrong -> acc 0/1


def _wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return ci.low, ci.high


def test_subgroup_rows_by_hand() -> None:
    table = subgroup_table(Y, PROBA, SUBGROUPS, positive=0, threshold=0.4)
    assert table["subgroup"].tolist() == ["F", "M", "kid"]
    assert table["n"].tolist() == [5, 4, 1]
    assert table["positives"].tolist() == [3, 1, 0]
    assert table["negatives"].tolist() == [2, 3, 1]
    f, m, kid = (table.iloc[i] for i in range(3))
    assert (f.sensitivity, f.specificity, f.accuracy) == (1.0, 1.0, 1.0)
    assert (m.sensitivity, m.specificity, m.accuracy) == pytest.approx((0.0, 2 / 3, 0.5))
    assert (f.sensitivity_low, f.sensitivity_high) == pytest.approx(_wilson(3, 3))
    assert (m.specificity_low, m.specificity_high) == pytest.approx(_wilson(2, 3))
    assert (m.accuracy_low, m.accuracy_high) == pytest.approx(_wilson(2, 4))
    assert math.isnan(kid.sensitivity) and math.isnan(kid.sensitivity_low) and math.isnan(kid.sensitivity_high)
    assert (kid.specificity, kid.accuracy) == (1.0, 0.0)


def test_wilson_bounds_match_the_closed_form() -> None:
    # Wilson: (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n), here for 2 of 3 at 90 %
    table = subgroup_table(Y, PROBA, SUBGROUPS, positive=0, threshold=0.4, level=0.9)
    z = stats.norm.ppf(0.95)
    p, n = 2 / 3, 3
    centre, half = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    m = table.iloc[1]
    assert (m.specificity_low, m.specificity_high) == pytest.approx(
        ((centre - half) / (1 + z**2 / n), (centre + half) / (1 + z**2 / n))
    )


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"subgroups must have shape \(10,\)"):
        subgroup_table(Y, PROBA, SUBGROUPS[:5], positive=0, threshold=0.5)
    with pytest.raises(ValueError, match=r"positive must be in 0\.\.2, got 3"):
        subgroup_table(Y, PROBA, SUBGROUPS, positive=3, threshold=0.5)
    with pytest.raises(ValueError, match=r"level must lie strictly between 0 and 1, got 1\.5"):
        subgroup_table(Y, PROBA, SUBGROUPS, positive=0, threshold=0.5, level=1.5)
