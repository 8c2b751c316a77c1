"""A real search with the images beyond the memory budget: trials read the memmap store and score as in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from raycxr.data import decode_dataset, index_folder
from raycxr.experiment import TRIALS_FILE
from raycxr.run import ImageStore, decode_images
from raycxr.train import TrainConfig
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_memmap_search_scores_as_in_memory(
    ray_cluster, tiny_dataset: Path, conditional_space: Path, tmp_path: Path, capfd
) -> None:
    trials = {}
    for name, extra in (("memory", []), ("memmap", ["memory_budget_gb=0.0002"])):
        settings = TuneSettings(
            space=str(conditional_space), data=tiny_dataset, storage=str(tmp_path), name=name, num_samples=2,
            max_concurrent=1, seed=0, set=[*FAST, "epochs=1", f"cache_dir={tmp_path / f'cache-{name}'}", *extra],
        )  # fmt: skip
        run_search(settings)
        trials[name] = pd.read_csv(tmp_path / name / TRIALS_FILE).sort_values("param_lr", ignore_index=True)
    assert "exceed the memory budget" in capfd.readouterr().out
    assert list((tmp_path / "cache-memmap").glob("*.npy")) and not list((tmp_path / "cache-memory").glob("*.npy"))
    assert (trials["memmap"]["status"] == "completed").all(), trials["memmap"][["status", "error"]]
    columns = [c for c in trials["memory"] if c.startswith(("param_", "best_val_"))]
    pd.testing.assert_frame_equal(trials["memory"][columns], trials["memmap"][columns], check_exact=True)


def test_with_ray_up_the_store_is_decoded_by_ray_tasks(ray_cluster, tiny_dataset: Path, tmp_path: Path, capfd,
                                                      monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr("raycxr.data._memmap.CHUNK_ROWS", 32)
    index = index_folder(tiny_dataset)
    cfg = TrainConfig(data=tiny_dataset, cache_dir=tmp_path, batch_size=8, memory_budget_gb=0.0001)
    stored = decode_images(index, cfg, 40, skip_bad=False)  # as put_images does for a searched size
    memory = decode_dataset(index, 40, use_cache=False).images
    assert isinstance(stored.images, np.memmap) and np.array_equal(stored.images, memory)
    assert "(100 %)" in capfd.readouterr().err  # the progress lines
    on_disk, in_store = ImageStore.of(stored.images), ImageStore.of(memory)
    assert on_disk.ref is None and in_store.path is None
    assert np.array_equal(on_disk.get(), in_store.get())
    with pytest.raises(ValueError, match=rf"image store {tmp_path / 'gone.npy'} does not exist"):
        ImageStore(None, str(tmp_path / "gone.npy"), memory.shape).get()
