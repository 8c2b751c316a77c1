"""Bad input to ``python -m raycxr.tune``: a one-line error (exit 2) before Ray or any trial starts."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import ray

from raycxr.tune.__main__ import main


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    assert not ray.is_initialized()
    return err


def test_bad_options(capsys, tiny_dataset: Path, tmp_path: Path) -> None:
    storage = ["--storage", str(tmp_path)]
    assert "num_samples: Input should be greater than or equal to 1 (got 0)" in _error(
        capsys, ["--num-samples", "0", *storage]
    )
    assert "--data: /no/such/dataset does not exist." in _error(capsys, ["--data", "/no/such/dataset", *storage])
    assert "search-space file" in _error(capsys, ["--space", str(tmp_path / "none.yaml"), *storage])
    assert "--metric: unknown metric 'val_f2'" in _error(capsys, ["--metric", "val_f2", *storage])
    assert "storage URI scheme 'ftp' is not supported" in _error(capsys, ["--storage", "ftp://host/x"])
    assert "--set expects KEY=VALUE, got 'epochs'" in _error(capsys, ["--set", "epochs", *storage])
    assert "fixed.epochs: Input should be greater than or equal to 1 (got 0)" in _error(
        capsys, ["--set", "epochs=0", *storage]
    )
    assert "params.lr: searched here" in _error(capsys, ["--set", "lr=0.1", *storage])
    assert "sampler 'grid' needs unconditional categorical parameters; 'freeze_ratio'" in _error(
        capsys, ["--sampler", "grid", *storage]
    )
    assert "--resume: no experiment named 'gone'" in _error(capsys, ["--resume", "--name", "gone", *storage])
    assert "--resume needs --name" in _error(capsys, ["--resume", *storage])
    assert "fold must be below folds (4), got 5" in _error(
        capsys, ["--data", str(tiny_dataset), "--set", "folds=4", "--set", "fold=5", *storage]
    )
    assert "--trainer train needs --cpus-per-worker > 0" in _error(
        capsys, ["--trainer", "train", "--cpus-per-worker", "0", "--gpus-per-worker", "1", *storage]
    )
    assert "--trainer function runs one worker per trial" in _error(
        capsys, ["--trainer", "function", "--workers-per-trial", "2", *storage]
    )
    assert "--cpus-per-worker 0 needs --gpus-per-worker > 0" in _error(capsys, ["--cpus-per-worker", "0", *storage])
    assert "--test-fraction: Test fraction must be 0 (no test set) or lie in (0, 0.5], got 0.7" in _error(
        capsys, ["--test-fraction", "0.7", *storage]
    )
    assert "--set holdout_fraction: a search keeps its untouched test set with --test-fraction" in _error(
        capsys, ["--set", "holdout_fraction=0.2", *storage]
    )
    data = ["--data", str(tiny_dataset)]
    assert "--nested must be at least 2 outer folds, got 1" in _error(capsys, ["--nested", "1", *data, *storage])
    unknown = _error(capsys, ["--test-source", "nowhere", *data, *storage])
    assert "nowhere" in unknown and "known" in unknown


def test_unknown_trainer(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--trainer", "fast"])
    assert exit_info.value.code == 2
    assert "--trainer: invalid choice: 'fast'" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_storage_that_cannot_be_written(capsys, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert f"--storage: cannot write to {locked / 'x'}" in _error(capsys, ["--storage", str(locked), "--name", "x"])


def test_storage_path_that_is_a_file(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    err = _error(capsys, ["--storage", str(tmp_path / "file"), "--name", "x"])
    assert f"--storage: cannot write to {tmp_path / 'file' / 'x'}" in err


def test_existing_experiment_name_needs_resume(capsys, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "raycxr.json").write_text("{}")
    err = _error(capsys, ["--storage", str(tmp_path), "--name", "taken"])
    assert "experiment 'taken' already exists" in err and "--resume" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_address_where_nothing_answers_fails_within_seconds(capsys, tmp_path: Path) -> None:
    port = _free_port()
    start = time.monotonic()
    err = _error(capsys, ["--storage", str(tmp_path), "--address", f"127.0.0.1:{port}"])
    assert f"--address 127.0.0.1:{port}: no Ray head answers at 127.0.0.1:{port} within 5 s" in err
    assert time.monotonic() - start < 15
    assert "expected 'auto', HOST:PORT" in _error(capsys, ["--storage", str(tmp_path), "--address", "nohost"])


def test_storage_uri_that_cannot_be_written(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    err = _error(capsys, ["--storage", f"file://{tmp_path / 'file'}", "--name", "x"])
    assert f"--storage: cannot write to file://{tmp_path / 'file'}/x:" in err


def test_a_loss_the_space_rescales_is_refused_as_the_objective(capsys, tmp_path: Path) -> None:
    """The default space searches the attention loss's n, which scales the loss: ranking by it picks small n."""
    err = _error(capsys, ["--metric", "best_val_loss", "--storage", str(tmp_path)])
    assert "\n" not in err and "--metric best_val_loss" in err and " n" in err and "best_val_f1_macro" in err
    err = _error(capsys, ["--objectives", "val_loss:min,latency_ms:min", "--storage", str(tmp_path)])
    assert "--objectives val_loss" in err


def test_bad_objectives_constraints_and_points(capsys, tmp_path: Path) -> None:
    """Each a one-line error before Ray starts."""
    storage = ["--storage", str(tmp_path)]

    def error(argv: list[str]) -> str:
        err = _error(capsys, [*argv, *storage])
        assert "\n" not in err
        return err

    unknown = error(["--objectives", "best_val_f1_macro:max,energy:min"])
    assert "--objectives: unknown metric 'energy'; trials report train_loss, val_loss," in unknown
    assert unknown.endswith("latency_ms, macs, params.")
    assert "--objectives: the direction of 'params' must be min or max, got 'smallest'" in error(
        ["--objectives", "best_val_f1_macro:max,params:smallest"]
    )
    assert "--objectives replaces --metric and --mode" in error(["--objectives", "params:min", "--metric", "val_loss"])
    assert "--constraint: cannot read 'latency_ms=20'; expected METRIC<=VALUE (operators <=, >=, <, >)" in error(
        ["--objectives", "best_val_f1_macro:max,latency_ms:min", "--constraint", "latency_ms=20"]
    )
    assert "--constraint 'energy_mj<=3': 'energy_mj' is not measured; a constraint may name train_loss," in error(
        ["--constraint", "latency_ms<=20", "--constraint", "energy_mj<=3"]
    )
    assert "--scheduler asha stops trials on one metric; it cannot be used with several --objectives" in error(
        ["--objectives", "best_val_f1_macro:max,params:min", "--scheduler", "asha"]
    )
    points = tmp_path / "points.json"
    points.write_text('[{"freeze_ratio": 0.5, "beta": 0.05, "gamma": 0.1, "q": 0.25, "n": 0.001, "lr": 0.5}]')
    assert f"--enqueue {points}: point 1: parameter 'lr' = 0.5 is outside [1e-05, 0.01]." in error(
        ["--enqueue", str(points)]
    )
    assert "--enqueue: the grid sampler runs every point of its grid already" in error(
        ["--space", "baselines", "--enqueue", "paper"]
    )
