"""Fixtures of the dashboard tests: a fake experiment, the dashboards CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fake_experiment(folder: Path, trials: int = 3) -> Path:
    """An experiment folder as a search leaves it, as far as the dashboards read it: a record and a study."""
    folder.mkdir(parents=True)
    (folder / "raycxr.json").write_text(json.dumps({"settings": {"name": folder.name}}))
    study = optuna.create_study(
        study_name=folder.name, storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize"
    )
    for k in range(trials):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 10.0 ** -(k + 2)},
                distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)},
                value=0.5 + 0.1 * k,
            )
        )
    return folder


class Output:
    """The lines a process writes to its stdout, collected by a thread (readable while it runs)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first line matching ``pattern``, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if found is not None:
                return found
            if self.process.poll() is not None:
                self._thread.join(5)
                if not any(re.search(pattern, line) for line in self.lines):
                    raise AssertionError(f"exited with code {self.process.returncode}: {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout:g} s: {self.lines}")

    def close(self) -> list[str]:
        self._thread.join(10)
        return self.lines


@dataclasses.dataclass
class RunningDashboards:
    process: subprocess.Popen
    output: Output
    optuna_url: str
    tensorboard_url: str


def start_dashboards(experiment: Path, *extra: str) -> tuple[subprocess.Popen, Output]:
    """``python -m raycxr.dashboard EXPERIMENT`` on free ports (``extra``: more options), output collected."""
    command = [
        sys.executable, "-m", "raycxr.dashboard", str(experiment),
        "--port-optuna", str(free_port()), "--port-tensorboard", str(free_port()), *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, Output(process)


@contextlib.contextmanager
def dashboards(experiment: Path, *extra: str, timeout: float = 120.0) -> Iterator[RunningDashboards]:
    """``python -m raycxr.dashboard EXPERIMENT`` on free ports, until "ready"; SIGTERM at the end."""
    process, output = start_dashboards(experiment, *extra)
    try:
        output.wait_for(r"^ready", timeout)
        urls = {
            line.split(":", 1)[0]: line.split()[1] for line in output.lines if line.startswith(("optuna", "Tensor"))
        }
        yield RunningDashboards(process, output, urls["optuna-dashboard"], urls["TensorBoard"])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def fake_experiment_dir(tmp_path: Path) -> Path:
    return fake_experiment(tmp_path / "fake-search")
