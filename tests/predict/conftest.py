"""Fixtures of the predict and export tests: tiny models trained for real, saved as ``python -m raycxr.train`` does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raycxr.predict.__main__ import main
from raycxr.train import TrainConfig
from raycxr.train.__main__ import run

#: A model that trains in seconds on 2 CPUs. ResNet-18 rather than MobileNetV2: its ONNX export
#: takes a third of the time (few, large layers), and nothing here depends on the backbone.
FAST = {
    "backbone": "resnet18",
    "weights": "none",
    "image_size": 32,
    "head": "gap",
    "loss": "ce",
    "epochs": 1,
    "batch_size": 16,
    "folds": 4,
}


@pytest.fixture(scope="session")
def trained_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-class training folder (best.pt, metrics.json); read-only for tests."""
    out = tmp_path_factory.mktemp("predict") / "run"
    run(TrainConfig(data=tiny_dataset, out=out, **FAST).check())
    return out


@pytest.fixture(scope="session")
def binary_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COVID-vs-Normal model with one sigmoid logit (its threshold in metrics.json); read-only."""
    out = tmp_path_factory.mktemp("predict") / "binary"
    cfg = TrainConfig(data=tiny_dataset, out=out, classes=["Normal", "COVID"], binary=True, **FAST)
    run(cfg.check())
    return out


@pytest.fixture
def pngs(tiny_dataset: Path, tmp_path: Path) -> list[Path]:
    """Six PNGs of the tiny dataset (of every class), copied into ``tmp_path/images``."""
    folder = tmp_path / "images"
    folder.mkdir()
    chosen = []
    for class_dir in sorted(p for p in tiny_dataset.iterdir() if p.is_dir()):
        chosen += sorted((class_dir / "images").glob("*.png"))[:2]
    copies = []
    for path in chosen[:6]:
        copies.append(folder / path.name)
        shutil.copyfile(path, copies[-1])
    return copies


def run_predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``python -m raycxr.predict ARGV`` in-process: exit code, stdout, stderr."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err
