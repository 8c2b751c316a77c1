"""Sizing trials to a cluster with GPUs: fractional GPUs share one, a trial larger than the cluster is refused.

Ray schedules on logical resources, so a local Ray that declares one GPU behaves, for
placement, like a one-GPU node; no trial runs here.
"""

from __future__ import annotations

import pytest
import ray

from raycxr.tune._cluster import cluster_concurrency, max_cluster_resources
from raycxr.tune._trial import Scaling


@pytest.fixture(scope="module")
def one_gpu_cluster():
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
    yield
    ray.shutdown()


def test_fractional_gpus_put_several_trials_on_one_gpu(one_gpu_cluster) -> None:
    assert max_cluster_resources() == (2.0, 1.0, False)  # no autoscaler: what the nodes have
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=1, gpus_per_worker=1)) == 1
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=1, gpus_per_worker=0.5)) == 2
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=0.5, gpus_per_worker=0.25)) == 4
    config = Scaling(workers=2, cpus_per_worker=1, gpus_per_worker=0.5).config()
    assert config.use_gpu and config.resources_per_worker == {"CPU": 1, "GPU": 0.5}


def test_a_trial_larger_than_the_cluster_is_refused(one_gpu_cluster) -> None:
    with pytest.raises(ValueError, match="--workers-per-trial 2: one trial needs 2 CPUs and 2 GPUs; the cluster has"):
        cluster_concurrency(Scaling(workers=2, cpus_per_worker=1, gpus_per_worker=1))
