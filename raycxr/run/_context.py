"""The report / checkpoint / resume protocol of a run, the same on both execution paths.

A run's job (train a configuration on a split) talks to Ray only through
:class:`RunContext`: it reports scalars every epoch with a checkpoint of its training state,
and after a restart (a failed worker, a resumed experiment) it reads back its last
checkpoint. On the Train path that is ``ray.train.report`` / ``ray.train.get_checkpoint``
inside a ``TorchTrainer`` worker; on the function path it is ``ray.tune.report`` /
``ray.tune.get_checkpoint`` in the Tune trial itself. Checkpoints hold the same files either way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import ray
import ray.train
import ray.tune
import torch
from ray.train.v2._internal.execution import context as train_context

from raycxr.experiment import STATE_FILE, jsonable


def quiet_train_logs() -> None:
    """Ray Train logs every report and checkpoint (whole metric dicts) at INFO; Tune's table says it."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    # The per-report line ("Reporting training result …") comes from a logger named after its file.
    logging.getLogger(train_context.__file__).setLevel(logging.WARNING)


def _save(directory: Path, name: str, content: Any) -> None:
    if name.endswith(".json"):
        (directory / name).write_text(json.dumps(jsonable(content)))
    else:
        torch.save(content, directory / name)


def _load(directory: Path, name: str) -> Any:
    path = directory / name
    if name.endswith(".json"):
        return json.loads(path.read_text())
    return torch.load(path, weights_only=True)


@dataclasses.dataclass(frozen=True)
class RunContext:
    """A run's view of Ray: its rank, its last checkpoint, and reports with checkpoints.

    Attributes:
        in_train: True inside a Ray Train worker, False when the run trains in its Tune trial.
    """

    in_train: bool

    @property
    def rank(self) -> int:
        return ray.train.get_context().get_world_rank() if self.in_train else 0

    @property
    def world_size(self) -> int:
        return ray.train.get_context().get_world_size() if self.in_train else 1

    def _checkpoint(self) -> Any:
        return ray.train.get_checkpoint() if self.in_train else ray.tune.get_checkpoint()

    def restored(self, *names: str) -> dict[str, Any] | None:
        """The files ``names`` of the run's last checkpoint, or ``None`` (fresh run, or a file missing).

        ``.json`` files are parsed; others are loaded with ``torch.load(weights_only=True)``.
        """
        checkpoint = self._checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            path = Path(directory)
            if not all((path / name).is_file() for name in names):
                return None
            return {name: _load(path, name) for name in names}

    def restored_state(self) -> dict[str, Any] | None:
        """The ``FitState.state_dict()`` of the last checkpoint, or ``None``."""
        files = self.restored(STATE_FILE)
        return None if files is None else files[STATE_FILE]

    def report(
        self, metrics: dict[str, Any], state: dict[str, Any] | None = None, files: dict[str, Any] | None = None
    ) -> None:
        """Report ``metrics``; rank 0 attaches a checkpoint of ``state`` and ``files``.

        Args:
            metrics: The scalars to report.
            state: A ``FitState.state_dict()`` (``None``: no training state in the checkpoint).
            files: More checkpoint content: ``*.json`` names → JSON-able objects, other names →
                objects for ``torch.save`` (tensors, not numpy arrays).
        """
        send = ray.train.report if self.in_train else ray.tune.report
        if self.rank != 0:
            send(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            if state is not None:
                _save(Path(directory), STATE_FILE, state)
            for name, content in (files or {}).items():
                _save(Path(directory), name, content)
            kind = ray.train.Checkpoint if self.in_train else ray.tune.Checkpoint
            send(metrics, checkpoint=kind.from_directory(directory))


def result_checkpoint(result: ray.tune.Result) -> str | None:
    """Where a finished run's last checkpoint is (either path): a local path or a URI, or ``None``.

    A function-path run's checkpoint is Tune's own (``result.checkpoint``); a Train-path
    run's is in Train's storage, its path in the reported ``checkpoint_path``.
    """
    path = (result.metrics or {}).get("checkpoint_path")
    if path is None and result.checkpoint is not None:
        path = result.checkpoint.path
    return path


def result_files(result: ray.tune.Result, *names: str) -> dict[str, Any] | None:
    """The files ``names`` of a finished run's last checkpoint (either path), or ``None``."""
    path = result_checkpoint(result)
    if path is None:
        return None
    with ray.tune.Checkpoint(path).as_directory() as directory:
        if not all((Path(directory) / name).is_file() for name in names):
            return None
        return {name: _load(Path(directory), name) for name in names}
