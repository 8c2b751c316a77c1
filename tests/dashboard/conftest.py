"""Fixtures of the dashboard tests: experiments (a fake one, a real search), the dashboards CLI, a headless browser.

The browser tests use Debian's ``chromium`` and ``chromium-driver`` (``scripts/install.sh test`` installs them
as root where apt-get works); where no browser can be found they are skipped, with the reason.
Screenshots go to ``$RAYCXR_ARTIFACTS/dashboard/`` (default ``tests/artifacts/dashboard/``, ignored by git).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
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

REPO = Path(__file__).resolve().parents[2]
#: The demo search the browser tests look at: long enough (about a minute of trials on 2 CPUs) for the
#: Ray dashboard test to see its trial actors alive; 4 trials with varying parameters give importances.
SEARCH_NAME = "dash-demo"
SEARCH_ARGS = ("--num-samples", "4", "--set", "epochs=3", "--demo-images", "200", "--seed", "0")
SEARCH_TIMEOUT_S = 420.0
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMEDRIVERS = ("/usr/bin/chromedriver", "chromedriver")


def artifacts_dir() -> Path:
    """Where the tests leave screenshots and logs: ``$RAYCXR_ARTIFACTS/dashboard`` or ``tests/artifacts/dashboard``."""
    root = Path(os.environ.get("RAYCXR_ARTIFACTS") or REPO / "tests" / "artifacts")
    path = root / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


# --- the demo search ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class DemoSearch:
    process: subprocess.Popen
    log: Path
    experiment: Path
    ray_dashboard: str  #: the local Ray's dashboard URL, as the search printed it


@pytest.fixture(scope="session")
def demo_search(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSearch]:
    """``python -m raycxr.tune`` on the built-in demo data, started in the background; yields once Ray is up.

    The search keeps running while the first tests use it (the Ray dashboard test sees its trial actors);
    ``finished_experiment`` waits for its end. Stopped with Ctrl-C (SIGINT) at the end of the session if
    it still runs.
    """
    storage = tmp_path_factory.mktemp("dash-storage")
    log = artifacts_dir() / "search.log"
    command = [sys.executable, "-m", "raycxr.tune", "--storage", str(storage), "--name", SEARCH_NAME, *SEARCH_ARGS]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 180
        url = None
        while url is None:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the search did not start Ray in time:\n" + log.read_text()[-3000:]
            found = re.search(r"^Ray dashboard: (http://\S+)", log.read_text(), re.MULTILINE)
            url = found.group(1) if found else None
            time.sleep(0.5)
        yield DemoSearch(process, log, storage / SEARCH_NAME, url.rstrip("/"))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def finished_experiment(demo_search: DemoSearch) -> Path:
    """The demo search's experiment folder, once the search has ended (every trial completed)."""
    try:
        code = demo_search.process.wait(SEARCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the demo search did not end within {SEARCH_TIMEOUT_S:g} s")
    assert code == 0, demo_search.log.read_text()[-3000:]
    return demo_search.experiment


# --- the browser -------------------------------------------------------------------------------------------


def find_browser() -> tuple[str | None, str | None]:
    """The paths of ``(chromium, chromedriver)``; ``None`` for one not found."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = next((path for name in CHROMEDRIVERS if (path := shutil.which(name))), None)
    return browser, driver


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by the system's chromedriver (one for the session)."""
    chromium, chromedriver = find_browser()
    if chromium is None or chromedriver is None:
        missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", chromedriver)) if p is None)
        pytest.skip(
            f"no headless browser: {missing} not found (scripts/install.sh test installs Debian's chromium and "
            "chromium-driver when run as root where apt-get works)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
