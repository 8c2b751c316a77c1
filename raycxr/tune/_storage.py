"""Experiments on URI storage (S3, GCS …): raycxr's records are kept in a local folder and synced.

Tune writes a URI experiment itself; raycxr's own files (``raycxr.json``, ``trials.csv`` …) are
written to a local folder (:func:`local_directory`) and uploaded after each change that matters.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs
from ray import tune

from raycxr.data import default_cache_dir as cache_root
from raycxr.experiment import EXPERIMENT_FILE, RECORD_FILES, TRIALS_FILE, read_json
from raycxr.tune._settings import TuneSettings


def local_directory(settings: TuneSettings, name: str) -> Path:
    """The local folder of raycxr's records: the experiment folder itself when the storage is local."""
    if settings.is_uri:
        return cache_root() / "experiments" / name
    return Path(settings.storage_path()) / name


def download(uri_dir: str, local: Path, files: tuple[str, ...]) -> None:
    fs, root = pyarrow.fs.FileSystem.from_uri(uri_dir)
    local.mkdir(parents=True, exist_ok=True)
    for name in files:
        info = fs.get_file_info(f"{root}/{name}")
        if info.type == pyarrow.fs.FileType.File:
            with fs.open_input_stream(f"{root}/{name}") as source, open(local / name, "wb") as target:
                shutil.copyfileobj(source, target)


def upload(local: Path, uri_dir: str, files: tuple[str, ...]) -> None:
    fs, root = pyarrow.fs.FileSystem.from_uri(uri_dir)
    fs.create_dir(root, recursive=True)
    for name in files:
        if (local / name).is_file():
            with open(local / name, "rb") as source, fs.open_output_stream(f"{root}/{name}") as target:
                shutil.copyfileobj(source, target)


def resumed_settings(settings: TuneSettings) -> TuneSettings:
    """The stored settings of the experiment ``--storage``/``--name`` (``--address`` may change)."""
    if settings.name is None:
        raise ValueError("--resume needs --name (and the same --storage) of the experiment to continue.")
    local = local_directory(settings, settings.name)
    if settings.is_uri:
        download(f"{settings.storage.rstrip('/')}/{settings.name}", local, (*RECORD_FILES, TRIALS_FILE))
    if not (local / EXPERIMENT_FILE).is_file():
        raise ValueError(
            f"--resume: no experiment named {settings.name!r} in {settings.storage} (no {EXPERIMENT_FILE})."
        )
    stored = read_json(local / EXPERIMENT_FILE)
    nested = stored["settings"].get("nested", 0)  # a nested CV keeps its Tune state per outer fold
    if not nested and not tune.Tuner.can_restore(f"{settings.storage_path().rstrip('/')}/{settings.name}"):
        raise ValueError(f"--resume: {settings.storage}/{settings.name} has no Tune experiment state to restore.")
    return TuneSettings(**(stored["settings"] | {"resume": True, "address": settings.address}))
