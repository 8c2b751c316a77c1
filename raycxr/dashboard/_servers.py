"""optuna-dashboard and TensorBoard on one experiment, side by side: check, start, wait until they answer, stop.

Both run as the libraries' own servers in child processes (``optuna-dashboard sqlite:///…`` and
``tensorboard --logdir … --host …``), each in its own process group, so that stopping them also
stops what they started (TensorBoard's data server). On Linux the children are also told to die
with this process, so even a ``kill -9`` of the launcher leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from raycxr.experiment import EXPERIMENT_FILE, NESTED_DIR, STUDY_FILE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_OPTUNA_PORT = 8080
DEFAULT_TENSORBOARD_PORT = 6006
#: Seconds both servers get to answer HTTP 200 (TensorBoard's first start imports TensorFlow's stubs).
READY_TIMEOUT_S = 120.0
#: Seconds a server gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1
#: Requests to the servers never go through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A search's folder with its Optuna study."""

    directory: Path
    study_db: Path
    study_name: str
    study_id: int | None  #: ``None`` when the database holds no study of the experiment's name


def check_experiment(path: Path) -> Experiment:
    """The experiment at ``path`` (``STORAGE/NAME`` of a search, or one outer search of a nested CV).

    Raises:
        ValueError: One line: not a folder, not an experiment, no study (yet), not an Optuna database.
    """
    directory = path.expanduser().resolve()
    if not directory.is_dir():
        raise ValueError(f"EXPERIMENT: {path} is not a folder.")
    db = directory / STUDY_FILE
    # An outer search of a nested CV (EXPERIMENT/nested/outer<k>) has its own study, not its own record.
    record = (directory / EXPERIMENT_FILE).is_file() or (
        directory.parent.name == NESTED_DIR and (directory.parent.parent / EXPERIMENT_FILE).is_file()
    )
    if not record:
        raise ValueError(
            f"EXPERIMENT: {path} is not a raycxr experiment folder (no {EXPERIMENT_FILE}); "
            "give STORAGE/NAME of a search."
        )
    if not db.is_file():
        outer = sorted(p.parent.name for p in directory.glob(f"{NESTED_DIR}/outer*/{STUDY_FILE}"))
        if outer:
            raise ValueError(
                f"EXPERIMENT: {path} is a nested cross-validation; each outer search has its own study: "
                f"give one of {', '.join(f'{path}/{NESTED_DIR}/{name}' for name in outer)}."
            )
        raise ValueError(f"EXPERIMENT: {path} has no {STUDY_FILE} (yet): its search has not started any trial.")
    name = directory.name
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
            row = connection.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()
    except sqlite3.Error as error:
        raise ValueError(f"EXPERIMENT: {db} is not an Optuna study database ({error}).") from None
    return Experiment(directory, db, name, None if row is None else int(row[0]))


def url_host(host: str) -> str:
    """The host part of a URL that reaches a server bound to ``host`` (a wildcard reaches it on loopback)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def check_port(host: str, port: int, option: str) -> None:
    """Fail if something already listens on ``host:port``.

    Raises:
        ValueError: One line naming the option and port, or the host that cannot be listened on.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host {host}: unknown host ({error.strerror}).") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(f"{option} {port}: port {port} on {host} is already in use.") from None
            raise ValueError(f"--host {host}, {option} {port}: cannot listen there ({error.strerror}).") from None


def console_script(name: str) -> str:
    """The path of an installed command: the one next to this Python (its virtual environment) first.

    Raises:
        ValueError: The command is not installed.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ValueError(f"{name} is not installed in this environment (pip install {name}).")
    return found


@dataclasses.dataclass(frozen=True)
class Server:
    """One dashboard: the command that serves it and where it answers."""

    name: str
    option: str  #: the CLI option of its port, named in errors
    command: tuple[str, ...]
    host: str
    port: int
    path: str = "/"  #: the page to open

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}{self.path}"


def optuna_server(experiment: Experiment, host: str, port: int) -> Server:
    """optuna-dashboard on the experiment's study database, opened at the experiment's study."""
    command = (console_script("optuna-dashboard"), f"sqlite:///{experiment.study_db}", "--host", host)
    path = "/dashboard/" if experiment.study_id is None else f"/dashboard/studies/{experiment.study_id}"
    return Server("optuna-dashboard", "--port-optuna", (*command, "--port", str(port), "--quiet"), host, port, path)


def tensorboard_server(experiment: Experiment, host: str, port: int) -> Server:
    """TensorBoard on the experiment folder (every trial's event files), bound to ``host`` only."""
    command = (console_script("tensorboard"), "--logdir", str(experiment.directory), "--host", host)
    return Server("TensorBoard", "--port-tensorboard", (*command, "--port", str(port)), host, port)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class ServerError(RuntimeError):
    """A server did not start, stopped by itself, or did not answer in time."""


class Dashboards:
    """Start ``servers`` (each in its own process group), wait until they answer, stop them all.

    A context manager: leaving it stops every server and what it started.
    """

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self._logs = tempfile.TemporaryDirectory(prefix="raycxr-dashboard-")
        self._processes: list[subprocess.Popen] = []
        try:
            for server in servers:
                log = Path(self._logs.name) / f"{server.port}.log"
                with log.open("wb") as out:
                    self._processes.append(
                        subprocess.Popen(
                            server.command,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                        )
                    )
        except BaseException:
            self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def __enter__(self) -> Dashboards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log(self, server: Server) -> Path:
        return Path(self._logs.name) / f"{server.port}.log"

    def check_alive(self) -> None:
        """Raises ``ServerError`` if a server has exited."""
        for server, process in zip(self.servers, self._processes):
            code = process.poll()
            if code is not None:
                raise ServerError(
                    f"{server.name} ({server.option} {server.port}) exited with code {code}: "
                    f"{_last_line(self._log(server))}"
                )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Return once every server answers its page with HTTP 200.

        Raises:
            ServerError: A server exited, or did not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        waiting = list(self.servers)
        while waiting:
            self.check_alive()
            waiting = [server for server in waiting if not _answers(server.url)]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(f"{s.name} at {s.url}" for s in waiting)
                raise ServerError(f"no HTTP 200 within {timeout:g} s from {names}.")
            if waiting:
                time.sleep(0.25)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every server and its process group: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # what is left of the group (a data server …)
            process.wait()
        self._processes.clear()
        self._logs.cleanup()
