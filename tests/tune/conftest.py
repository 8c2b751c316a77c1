"""Fixtures of the search tests: tiny, fast training settings and spaces written to disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

#: Training settings that make a trial take seconds on 2 CPUs.
FAST = [
    "image_size=64",
    "folds=4",
    "epochs=2",
    "patience=2",
    "batch_size=16",
    "head=gap",
    "normalize=imagenet",
    "stats_samples=200",
]

CONDITIONAL_SPACE = """
description: conditional test space
params:
  loss: {type: categorical, choices: [ce, attention]}
  beta: {type: float, low: 0.0, high: 0.1, when: {loss: attention}}
  freeze_ratio: {type: float, low: 0.5, high: 0.9}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


@pytest.fixture
def conditional_space(tmp_path: Path) -> Path:
    path = tmp_path / "conditional.yaml"
    path.write_text(CONDITIONAL_SPACE)
    return path


def cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """``python -m raycxr.tune ARGV`` must stop with exit code 2 and one line (no traceback) before Ray starts;
    that line without its ``error: `` prefix."""
    from raycxr.tune.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and "\n" not in err
    assert not ray.is_initialized()
    return err.removeprefix("error: ")
