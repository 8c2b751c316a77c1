"""The two execution paths of a run: same protocol, same checkpoints, same metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch

from raycxr.experiment import TRIALS_FILE
from raycxr.run import TRIAL_DRIVER_RESOURCES, Scaling
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST


def test_auto_picks_the_function_path_for_one_worker() -> None:
    assert not Scaling(workers=1).uses_train
    assert Scaling(workers=2).uses_train
    assert Scaling(workers=1, trainer="train").uses_train
    # A function-path trial holds its worker's resources; a Train-path trial only drives its workers.
    assert Scaling(cpus_per_worker=2, gpus_per_worker=0.5).trial_resources() == {"cpu": 2, "gpu": 0.5}
    assert Scaling(workers=2).trial_resources() == TRIAL_DRIVER_RESOURCES


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trainer": "fast"}, "--trainer: expected one of auto, function, train, got 'fast'"),
        ({"workers": 2, "trainer": "function"}, "--trainer function runs one worker per trial"),
        ({"cpus_per_worker": 0, "gpus_per_worker": 1, "trainer": "train"}, "--trainer train needs --cpus-per-worker"),
        ({"cpus_per_worker": 0}, "--cpus-per-worker 0 needs --gpus-per-worker > 0"),
    ],
)
def test_bad_scaling(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scaling(**kwargs)


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield
    ray.shutdown()


def _epochs(directory: Path) -> list[dict]:
    (row,) = pd.read_csv(directory / TRIALS_FILE).itertuples()
    lines = (directory / row.trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_same_configuration_same_metrics_on_both_paths(ray_cluster, tiny_dataset: Path, tmp_path: Path) -> None:
    """The paper's configuration as a function-path trial and as a Ray Train run: the same numbers."""
    runs = {}
    for trainer in ("function", "train"):
        settings = TuneSettings(
            space="paper", data=tiny_dataset, storage=str(tmp_path), name=trainer, trainer=trainer, set=FAST
        )
        result = run_search(settings)
        assert (result.trials["status"] == "completed").all(), result.trials[["status", "error"]]
        runs[trainer] = _epochs(tmp_path / trainer)
    function, train = runs["function"], runs["train"]
    assert [r["epoch"] for r in function] == [r["epoch"] for r in train] == [1, 2]
    for a, b in zip(function, train):
        for key in ("train_loss", "val_loss", "val_f1_macro", "val_accuracy", "best_val_f1_macro"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    # Same checkpoint content either way: Tune's own for the function path, Train's for the other.
    (tune_checkpoint,) = (tmp_path / "function").glob("trial_*/checkpoint_*/state.pt")
    (train_checkpoint,) = (tmp_path / "train" / "train").glob("train-*/checkpoint_*/state.pt")
    a, b = (torch.load(p, weights_only=True) for p in (tune_checkpoint, train_checkpoint))
    assert a.keys() == b.keys() and a["epoch"] == b["epoch"] == 2
    for name, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][name], rtol=1e-4, atol=1e-6)
