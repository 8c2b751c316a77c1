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


#: The multi-label model's four NIH findings: each positive in the replica's official test split and in training.
NIH_LABELS = ("Atelectasis", "Cardiomegaly", "Edema", "Emphysema")


@pytest.fixture(scope="session")
def multilabel_experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-trial multi-label search on an NIH replica (24 patients, the official test split), as
    tests/tune/test_multilabel.py runs one; ResNet-18, whose features (unlike MobileNetV2's at 64 px from
    scratch) vary between images, so the probabilities do. Read-only for tests."""
    from raycxr.tune.__main__ import main as tune_main
    from tests.data.replicas import nih_replica
    from tests.tune.test_multilabel import QUICK, SPACE

    root = tmp_path_factory.mktemp("multilabel")
    data = nih_replica(root / "nih", patients=24)
    argv = ["--dataset", "nih", "--data", str(data), "--space", str(SPACE), "--storage", str(root / "runs")]
    argv += ["--name", "nih", "--num-samples", "2", "--test-split", "official"]
    for item in [*QUICK, "backbone=resnet18", f"classes={','.join(NIH_LABELS)}"]:
        argv += ["--set", item]
    tune_main(argv)
    return root / "runs" / "nih"


@pytest.fixture(scope="session")
def varied_pngs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Ten 96-px PNGs unlike each other (synthetic phantoms of every class, intensity ramps): a replica's
    random-noise images all look alike to a tiny model, these do not."""
    import numpy as np
    from PIL import Image

    from raycxr.data.synthetic import CLASSES, phantom

    folder = tmp_path_factory.mktemp("varied")
    rng = np.random.default_rng(0)
    images = [phantom(CLASSES[i % len(CLASSES)], 96, rng) for i in range(6)]
    ramp = np.add.outer(np.linspace(0, 1, 96), np.linspace(0, 1, 96)) / 2
    images += [(low + (high - low) * ramp).astype(np.uint8) for low, high in ((0, 255), (255, 0), (40, 90), (200, 220))]
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"varied{i}.png")
        Image.fromarray(image).save(paths[-1])
    return paths
