from __future__ import annotations

from pathlib import Path

import pytest

from raycxr.evaluation import apply_temperature, plot_precision_recall, plot_reliability
from tests.evaluation.tables import PROBA, Y

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


def test_reliability_diagram_before_and_after(tmp_path: Path) -> None:
    path = plot_reliability(
        Y,
        PROBA,
        tmp_path / "figs" / "reliability.png",
        proba_calibrated=apply_temperature(PROBA, 1.5),
        n_bins=5,
        class_names=["COVID", "Normal", "Viral"],
    )
    assert path == tmp_path / "figs" / "reliability.png"
    assert _is_png(path)
    assert _is_png(plot_reliability(Y, PROBA, tmp_path / "before.png"))


def test_precision_recall_plot(tmp_path: Path) -> None:
    assert _is_png(plot_precision_recall(Y, PROBA, tmp_path / "pr.png"))


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1, got 0"):
        plot_reliability(Y, PROBA, tmp_path / "r.png", n_bins=0)
    with pytest.raises(ValueError, match=r"proba_calibrated must have shape \(n, K\) with n = 10"):
        plot_reliability(Y, PROBA, tmp_path / "r.png", proba_calibrated=PROBA[:3])
    assert not (tmp_path / "r.png").exists()
