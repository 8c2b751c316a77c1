"""Sizing trials to a cluster with GPUs: fractional GPUs share one, a trial larger than the cluster is refused.

Ray schedules on logical resources, so a local Ray that declares one GPU behaves, for
placement, like a one-GPU node; no trial runs here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
import yaml

from raycxr.run import Scaling, cluster_concurrency, launcher_maximum, max_cluster_resources

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def one_gpu_cluster():
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
    yield
    ray.shutdown()


def test_fractional_gpus_put_several_trials_on_one_gpu(one_gpu_cluster) -> None:
    assert max_cluster_resources(Path("/no/such/file")) == (2.0, 1.0, False)  # no autoscaler: what the nodes have
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=1, gpus_per_worker=1)) == 1
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=1, gpus_per_worker=0.5)) == 2
    assert cluster_concurrency(Scaling(workers=1, cpus_per_worker=0.5, gpus_per_worker=0.25)) == 4
    config = Scaling(workers=2, cpus_per_worker=1, gpus_per_worker=0.5).config()
    assert config.use_gpu and config.resources_per_worker == {"CPU": 1, "GPU": 0.5}


def test_a_trial_larger_than_the_cluster_is_refused(one_gpu_cluster) -> None:
    with pytest.raises(ValueError, match="--workers-per-trial 2: one trial needs 2 CPUs and 2 GPUs; the cluster has"):
        cluster_concurrency(Scaling(workers=2, cpus_per_worker=1, gpus_per_worker=1))


def _bootstrap_config(tmp_path: Path) -> Path:
    """cluster.yaml as ``ray up`` leaves it on the head: node types' resources filled in by AWS."""
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["available_node_types"]["head"]["resources"] = {"CPU": 8}
    config["available_node_types"]["gpu_worker"]["resources"] = {"CPU": 8, "GPU": 1}
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_autoscaling_cluster_is_sized_by_what_it_can_grow_to(one_gpu_cluster, tmp_path: Path) -> None:
    bootstrap = _bootstrap_config(tmp_path)
    assert launcher_maximum(bootstrap) == (8 + 4 * 8, 4)  # head + 4 GPU nodes at most
    assert max_cluster_resources(bootstrap) == (40, 4, True)
    assert cluster_concurrency(Scaling(workers=2, cpus_per_worker=4, gpus_per_worker=1), bootstrap) == 2
    with pytest.raises(ValueError, match="one trial needs 5 CPUs and 5 GPUs; the cluster can grow to 40 CPUs and 4"):
        cluster_concurrency(Scaling(workers=5, cpus_per_worker=1, gpus_per_worker=1), bootstrap)
    unknown = tmp_path / "local.yaml"  # node types whose resources Ray detects at start: not known ahead
    unknown.write_text((ROOT / "cluster-local.yaml").read_text())
    assert launcher_maximum(unknown) is None and max_cluster_resources(unknown) == (2.0, 1.0, False)
