"""The Ray cluster a search runs on: connect (or start one), size trials to it, check its storage.

Every check here fails with a one-line ``ValueError`` before any trial starts: an address
nothing answers at, a trial no node type of the cluster can ever hold, a storage folder
some node cannot see.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from pathlib import Path

import pyarrow
import pyarrow.fs
import ray
import yaml
from ray._private.services import canonicalize_bootstrap_address
from ray._private.state import state as ray_state
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raycxr.run._scaling import Scaling

#: Seconds to wait for the head's GCS port to answer before calling an address dead.
CONNECT_TIMEOUT_S = 5.0
LOCAL_ADDRESSES = (None, "", "local")
#: Ray Train's switch of its preemption watcher (checked on these machines: Ray 2.60).
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
#: The cluster-launcher config ``ray up`` writes on the head node (the autoscaler's input).
BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")


def check_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within ``timeout`` seconds if nothing listens at ``host:port`` (or ``ray://host:port``).

    ``ray.init`` itself retries an unreachable GCS for a minute or more before it gives up.

    Raises:
        ValueError: The address is malformed or nothing answers there.
    """
    if address in LOCAL_ADDRESSES:
        return
    target = address.removeprefix("ray://")
    if address == "auto":  # the cluster this machine last started (stale if it died)
        try:
            target = canonicalize_bootstrap_address("auto")
        except ConnectionError as error:
            raise ValueError(f"--address auto: {str(error).splitlines()[0]}") from None
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address: expected 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"--address {address}: no Ray head answers at {host}:{port} within {timeout:g} s ({reason}). "
            "Start one with `ray start --head` or check the address."
        ) from None


def start_ray(address: str | None, quiet: bool = False) -> bool:
    """Connect to ``address`` or start a local Ray with its dashboard; True if this call started it.

    ``quiet``: only Ray's warnings and errors of the start-up, not its INFO lines (raycxr
    prints the dashboard's address itself).

    Raises:
        ValueError: Nothing answers at ``address`` (``auto``: no running cluster found).
    """
    if ray.is_initialized():
        return False
    check_address(address)
    if address in LOCAL_ADDRESSES:
        # One machine is never preempted. Train's preemption watcher would only log an
        # error-level line per Train run (constructor arguments in the object store) to a new
        # user's demo. The local Ray's workers inherit this process's environment.
        os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
    try:
        context = ray.init(
            address=None if address in LOCAL_ADDRESSES else address,
            include_dashboard=True,
            log_to_driver=True,
            logging_level=logging.WARNING if quiet else logging.INFO,
        )
    except ConnectionError as error:
        raise ValueError(f"--address {address}: {str(error).splitlines()[0]}") from None
    url = getattr(context, "dashboard_url", None)
    print(f"Ray dashboard: {'http://' + url if url else 'not running (install ray[default])'}", flush=True)
    return True


def launcher_maximum(path: Path = BOOTSTRAP_CONFIG) -> tuple[float, float] | None:
    """``(CPUs, GPUs)`` of a ``ray up`` cluster at its node types' maximum counts, or ``None``.

    Reads the cluster-launcher config that ``ray up`` leaves on the head node (with the
    node types' CPUs and GPUs filled in by the cloud provider), so a search started there
    knows that GPU workers scaling from zero can come. ``None`` when there is no such file
    or its node types do not say their resources.
    """
    path = path.expanduser()
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text()) or {}
    cpus = gpus = 0.0
    for name, node_type in (config.get("available_node_types") or {}).items():
        resources = node_type.get("resources") or {}
        count = node_type.get("max_workers", 0) + (name == config.get("head_node_type"))
        cpus += float(resources.get("CPU", 0)) * count
        gpus += float(resources.get("GPU", 0)) * count
    return (cpus, gpus) if cpus or gpus else None


def max_cluster_resources(bootstrap: Path = BOOTSTRAP_CONFIG) -> tuple[float, float, bool]:
    """``(CPUs, GPUs, autoscaling)``: what the cluster can ever have.

    On an autoscaling cluster that is what its node types add up to at their maximum
    counts: from the cluster config Ray keeps in its GCS (as Ray Train reads it), else from
    the launcher config ``ray up`` leaves on the head; otherwise what its nodes have now.
    """
    now = ray.cluster_resources()
    cpus, gpus = now.get("CPU", 0.0), now.get("GPU", 0.0)
    most = ray_state.get_max_resources_from_cluster_config()
    if most:
        return max(cpus, float(most.get("CPU", 0))), max(gpus, float(most.get("GPU", 0))), True
    launcher = launcher_maximum(bootstrap)
    if launcher is not None:
        return max(cpus, launcher[0]), max(gpus, launcher[1]), True
    return cpus, gpus, False


def cluster_concurrency(scaling: Scaling, bootstrap: Path = BOOTSTRAP_CONFIG) -> int:
    """How many runs of ``scaling`` fit at once: what the cluster's CPUs and GPUs hold, at least one.

    Raises:
        ValueError: GPUs asked for on a cluster that can never have any, or a trial larger
            than the cluster can ever be.
    """
    cpus, gpus, autoscaling = max_cluster_resources(bootstrap)
    kind = "can grow to" if autoscaling else "has"
    need_cpu = scaling.workers * scaling.cpus_per_worker
    need_gpu = scaling.workers * scaling.gpus_per_worker
    if need_gpu and not gpus:
        raise ValueError(
            f"--gpus-per-worker {scaling.gpus_per_worker:g}: the Ray cluster {kind} no GPUs "
            f"({cpus:g} CPUs). Use --gpus-per-worker 0 or a cluster with GPU nodes."
        )
    if need_cpu > cpus or need_gpu > gpus:
        raise ValueError(
            f"--workers-per-trial {scaling.workers}: one trial needs {need_cpu:g} CPUs and {need_gpu:g} GPUs; "
            f"the cluster {kind} {cpus:g} CPUs and {gpus:g} GPUs."
        )
    fits = math.floor(cpus / need_cpu + 1e-9)
    if need_gpu:
        fits = min(fits, math.floor(gpus / need_gpu + 1e-9))
    return max(1, fits)


def check_uri_writable(uri: str) -> None:
    """Write and delete a probe file under a storage URI (``s3://``, ``gs://``, ``file://`` …).

    Raises:
        ValueError: pyarrow cannot resolve the URI or write there.
    """
    try:
        fs, root = pyarrow.fs.FileSystem.from_uri(uri)
        fs.create_dir(root, recursive=True)
        probe = f"{root}/.raycxr-write-test"
        with fs.open_output_stream(probe) as stream:
            stream.write(b"")
        fs.delete_file(probe)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise ValueError(f"--storage: cannot write to {uri}: {str(error).splitlines()[0]}") from None


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return Path(path).is_file()


def check_shared_storage(directory: Path, option: str = "--storage") -> None:
    """On a multi-node cluster, check that every node sees the local storage ``directory``.

    Trials write checkpoints and results from whichever node runs them, so a local path
    must be a shared mount (NFS …) on every node, else results are lost.

    Raises:
        ValueError: Some node does not see a file the driver wrote there.
    """
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) < 2:
        return
    probe = directory / f".raycxr-shared-{uuid.uuid4().hex}"
    probe.write_text("")
    try:
        checks = [
            _sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
                str(probe)
            )
            for n in nodes
        ]
        seen = ray.get(checks)
    finally:
        probe.unlink()
    blind = [f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n, ok in zip(nodes, seen) if not ok]
    if blind:
        raise ValueError(
            f"{option} {directory}: not visible on node(s) {', '.join(blind)}. A multi-node search needs "
            "storage every node can write: a shared mount at the same path, or s3:// / gs://."
        )
