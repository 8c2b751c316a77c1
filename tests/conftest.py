"""Shared fixtures: small synthetic datasets written to disk, and an isolated cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from raycxr.data.synthetic import generate


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the decode cache of the tests out of the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RAYCXR_CACHE", str(tmp_path_factory.mktemp("raycxr-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 synthetic 64-px phantoms in the Kaggle layout (read-only for tests)."""
    return generate(tmp_path_factory.mktemp("tiny") / "cxr", n=120, size=64, seed=0, workers=2)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 synthetic 64-px phantoms, enough to learn from (read-only for tests)."""
    return generate(tmp_path_factory.mktemp("small") / "cxr", n=600, size=64, seed=0, workers=2)
