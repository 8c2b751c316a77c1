"""The console of ``python -m raycxr.tune``: what matters, once; Ray's own output only with ``--verbose``."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from raycxr.experiment import TRIALS_FILE
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow

#: Two trials of a grid: one trains, one crashes in its first epoch (the loss overflows).
SPACE = """
params:
  weighting:
    type: categorical
    choices:
      plain: {loss: ce}
      broken: {loss: alpha, alpha: [3.0e+38, 3.0e+38, 3.0e+38, 3.0e+38]}
search: {sampler: grid}
"""
#: What changes between two copies of one log line: times, process ids, addresses.
_VOLATILE = re.compile(r"\d+(\.\d+)?|0x[0-9a-f]+")


def _search(data: Path, tmp_path: Path, name: str, *extra: str) -> str:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    command = [
        sys.executable, "-m", "raycxr.tune", "--space", str(space), "--data", str(data),
        "--storage", str(tmp_path / "runs"), "--name", name, "--seed", "0", *extra,
    ]  # fmt: skip
    for item in [*FAST, "epochs=2"]:
        command += ["--set", item]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=os.environ.copy())
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def test_the_console_shows_what_matters_once(tiny_dataset: Path, tmp_path: Path) -> None:
    output = _search(tiny_dataset, tmp_path, "quiet")
    lines = output.splitlines()
    trials = pd.read_csv(tmp_path / "runs" / "quiet" / TRIALS_FILE).set_index("param_weighting")

    # One TensorBoard line, raycxr's (the experiment folder), and the dashboard.
    tensorboard = [line for line in lines if "tensorboard --logdir" in line.lower()]
    assert tensorboard == [f"TensorBoard: tensorboard --logdir {tmp_path / 'runs' / 'quiet'}"], tensorboard
    assert any(line.startswith("Ray dashboard: ") for line in lines), output
    # Trials are named as their folders, in the progress lines and the table.
    for trial_dir in trials["trial_dir"]:
        assert trial_dir.startswith("trial_") and trial_dir in output, output
    assert "_run_" not in output
    # The searched parameter and the objective are in the table; the crash reaches the console.
    assert "weighting" in output and "best_val_f1_macro" in output
    assert "FloatingPointError: training loss became" in output, output
    assert trials.loc["broken", "status"] == "errored" and trials.loc["plain", "status"] == "completed"
    # No warning twice (same text once times and ids are masked), and Tune's snapshot warning not at all.
    warnings = collections.Counter(
        _VOLATILE.sub("#", line) for line in lines if re.search(r"warn", line, re.IGNORECASE)
    )
    assert all(n == 1 for n in warnings.values()), warnings
    assert "snapshotting has been triggered" not in output
    assert "driver_artifacts" not in output  # Ray's own, wrong, TensorBoard line


def test_verbose_shows_rays_own_output(tiny_dataset: Path, tmp_path: Path) -> None:
    output = _search(tiny_dataset, tmp_path, "verbose", "--verbose")
    assert "Trial status:" in output  # Tune's status report
    assert "TensorBoard: tensorboard --logdir" in output
