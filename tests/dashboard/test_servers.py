"""The dashboards CLI for real: both servers answer on the host given, and stop with it, leaving nothing behind."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.conftest import start_dashboards

pytestmark = pytest.mark.slow


def _get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.status


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of a process from ``/proc``, or ``None`` if there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _descendants(pid: int) -> list[int]:
    parents = {
        int(p.name): stat[1] for p in Path("/proc").iterdir() if p.name.isdigit() and (stat := _stat(int(p.name)))
    }
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The processes of ``pids`` still running after up to ``timeout`` seconds (zombies are not)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if (stat := _stat(p)) is not None and stat[0] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _listening(port: int) -> set[str]:
    """The local addresses (hex, as ``/proc/net/tcp*`` write them) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
def test_serves_both_on_localhost_and_stops_them(fake_experiment_dir: Path, stop: signal.Signals) -> None:
    process, output = start_dashboards(fake_experiment_dir)
    pids: list[int] = []
    try:
        output.wait_for(r"^ready", 120)
        optuna_line = next(line for line in output.lines if line.startswith("optuna-dashboard:"))
        tensorboard_line = next(line for line in output.lines if line.startswith("TensorBoard:"))
        assert output.lines.index(optuna_line) < output.lines.index(tensorboard_line) < len(output.lines) - 1
        optuna_url, tensorboard_url = optuna_line.split()[1], tensorboard_line.split()[1]
        assert optuna_url.startswith("http://127.0.0.1:") and optuna_url.endswith("/dashboard/studies/1")
        assert _get(optuna_url) == 200 and _get(tensorboard_url) == 200
        for url in (optuna_url, tensorboard_url):  # on the host given (127.0.0.1), nowhere else
            assert _listening(int(url.split(":")[2].split("/")[0])) == {"0100007F"}, url
        pids = _descendants(process.pid)  # both servers, and TensorBoard's data server
        assert len(pids) >= 2

        process.send_signal(stop)
        code = process.wait(30)
        assert _alive(pids) == [], "servers left running"
        if stop != signal.SIGKILL:
            assert code == 0 and output.close()[-1] == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in _alive(pids, timeout=0):  # after a failure: no server outlives the test
            os.kill(pid, signal.SIGKILL)
