"""``python -m raycxr.dashboard``: bad input stops with one line before any server starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from raycxr.dashboard import __main__ as cli
from raycxr.dashboard import _servers
from tests.dashboard.conftest import fake_experiment, free_port


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


def test_not_an_experiment(capsys, tmp_path: Path) -> None:
    assert "is not a folder" in _error(capsys, [str(tmp_path / "missing")])
    assert "not a raycxr experiment folder (no raycxr.json)" in _error(capsys, [str(tmp_path)])
    (tmp_path / "optuna.db").write_bytes(b"")
    assert "not a raycxr experiment folder" in _error(capsys, [str(tmp_path)])


def test_experiment_without_a_study(capsys, tmp_path: Path) -> None:
    (tmp_path / "raycxr.json").write_text("{}")
    assert "has no optuna.db (yet)" in _error(capsys, [str(tmp_path)])
    (tmp_path / "optuna.db").write_text("not a database, not at all" * 100)
    assert "is not an Optuna study database" in _error(capsys, [str(tmp_path)])


def test_nested_experiment_names_its_outer_searches(capsys, tmp_path: Path) -> None:
    experiment = tmp_path / "nest"
    experiment.mkdir()
    (experiment / "raycxr.json").write_text("{}")
    outer = fake_experiment(experiment / "nested" / "outer0")
    (outer / "raycxr.json").unlink()  # outer searches have a study, not a record of their own
    err = _error(capsys, [str(experiment)])
    assert "nested cross-validation" in err and f"{experiment}/nested/outer0" in err
    found = _servers.check_experiment(outer)
    assert (found.study_name, found.study_id) == ("outer0", 1)


def test_study_of_the_experiment(tmp_path: Path) -> None:
    found = _servers.check_experiment(fake_experiment(tmp_path / "exp"))
    assert (found.study_name, found.study_id, found.study_db) == ("exp", 1, tmp_path / "exp" / "optuna.db")
    server = _servers.optuna_server(found, "127.0.0.1", 8080)
    assert server.url == "http://127.0.0.1:8080/dashboard/studies/1"
    assert server.command[1] == f"sqlite:///{tmp_path / 'exp' / 'optuna.db'}"
    tensorboard = _servers.tensorboard_server(found, "127.0.0.1", 6006)
    assert tensorboard.url == "http://127.0.0.1:6006/"
    assert "--bind_all" not in tensorboard.command and tensorboard.command[-4:-2] == ("--host", "127.0.0.1")
    renamed = tmp_path / "renamed"
    (tmp_path / "exp").rename(renamed)  # a study of another name: the dashboard's list of studies
    assert _servers.optuna_server(_servers.check_experiment(renamed), "0.0.0.0", 1).url == (
        "http://127.0.0.1:1/dashboard/"
    )


@pytest.mark.parametrize("option", ["--port-optuna", "--port-tensorboard"])
def test_port_in_use(capsys, tmp_path: Path, option: str) -> None:
    experiment = fake_experiment(tmp_path / "exp")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = "--port-tensorboard" if option == "--port-optuna" else "--port-optuna"
        err = _error(capsys, [str(experiment), option, str(port), other, str(free_port())])
    assert err == f"error: {option} {port}: port {port} on 127.0.0.1 is already in use."


def test_bad_ports_and_host(capsys, tmp_path: Path) -> None:
    experiment = str(fake_experiment(tmp_path / "exp"))
    port = str(free_port())
    assert "must differ" in _error(capsys, [experiment, "--port-optuna", port, "--port-tensorboard", port])
    assert "unknown host" in _error(capsys, [experiment, "--host", "no-such-host.invalid"])
    for option, value in (("--port-optuna", "70000"), ("--port-tensorboard", "x")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([experiment, option, value])
        assert exit_info.value.code == 2
        assert f"argument {option}: expected a port number 1-65535" in capsys.readouterr().err
