"""The tiny classifier of the explain tests, trained once."""

from __future__ import annotations

import pytest
import torch

from tests.explain.phantoms import CLASSES, Trained, phantoms, shallow_resnet18, train


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """One thread: on the shared 2-core machines two threads contend and run many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def trained(_one_thread) -> Trained:
    model = train(shallow_resnet18(len(CLASSES)), *phantoms(240, seed=0))
    images, labels = phantoms(60, seed=1)
    with torch.no_grad():
        proba = torch.softmax(model(torch.as_tensor(images)), dim=1).numpy()
    assert (proba.argmax(1) == labels).mean() >= 0.9, "the tiny model did not learn the task"
    return Trained(model, images, labels, proba)
