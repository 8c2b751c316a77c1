"""A search on a two-node Ray cluster (head + worker on this machine), and a worker node killed mid-search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from ray.cluster_utils import Cluster

from raycxr.experiment import TRIALS_FILE
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow
EPOCHS = 8


def _results(trial_dir: Path) -> list[dict]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _checkpoints(experiment: Path, trial_id: str = "*") -> list[Path]:
    """A trial's checkpoints: Tune's own (one-worker trials) or its Train run's (several workers)."""
    return sorted(
        [
            *experiment.glob(f"trial_{trial_id}/checkpoint_*/state.pt"),
            *experiment.glob(f"train/train-{trial_id}/checkpoint_*/state.pt"),
        ]
    )


def _checkpointed_epochs(experiment: Path) -> dict[str, int]:
    """Trial id → epoch of its latest checkpoint (written from the trial's node, straight to storage)."""
    epochs = {}
    for path in _checkpoints(experiment):
        try:
            epoch = int(torch.load(path, weights_only=True)["epoch"])
        except (OSError, RuntimeError, EOFError):  # being written or replaced right now
            continue
        trial_id = path.parents[1].name.removeprefix("train-").removeprefix("trial_")
        epochs[trial_id] = max(epoch, epochs.get(trial_id, 0))
    return epochs


@pytest.fixture
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


def test_search_spans_two_nodes_and_survives_losing_one(
    two_nodes, small_dataset: Path, conditional_space: Path, tmp_path: Path
) -> None:
    cluster, worker = two_nodes
    head_id, worker_id = cluster.head_node.node_id, worker.node_id
    storage = tmp_path / "shared"  # one machine: every node sees it, as NFS would
    command = [
        sys.executable, "-m", "raycxr.tune", "--address", cluster.address, "--space", str(conditional_space),
        "--data", str(small_dataset), "--storage", str(storage), "--name", "nodes", "--num-samples", "3",
        "--max-failures", "2", "--seed", "0",
    ]  # fmt: skip
    for item in [*FAST, f"epochs={EPOCHS}", f"patience={EPOCHS}"]:
        command += ["--set", item]
    log_path = tmp_path / "search.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        experiment = storage / "nodes"
        deadline = time.monotonic() + 300
        # Two trials run at once, one per node (a worker needs the node's only CPU): once both
        # have a checkpoint, and neither has finished, the worker node dies.
        while len(running := {t: e for t, e in _checkpointed_epochs(experiment).items() if 2 <= e < EPOCHS}) < 2:
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "two trials did not reach epoch 2 together"
            time.sleep(0.2)
        cluster.remove_node(worker, allow_graceful=False)  # the node dies mid-trial
        assert process.wait(timeout=400) == 0, log_path.read_text()[-3000:]
    output = log_path.read_text()
    assert "Ray dashboard:" in output

    trials = pd.read_csv(experiment / TRIALS_FILE)
    assert len(trials) == 3 and (trials["status"] == "completed").all(), trials.to_string()
    assert (trials["epochs"] == EPOCHS).all()
    nodes = {row.trial_id: [r["node"] for r in _results(experiment / row.trial_dir)] for row in trials.itertuples()}
    assert set().union(*nodes.values()) == {head_id, worker_id}, "the trials did not run on both nodes"
    victims = [trial_id for trial_id, used in nodes.items() if worker_id in used]
    assert len(victims) == 1 and victims[0] in running
    assert nodes[victims[0]][-1] == head_id  # retried on the surviving node
    resumed = trials.set_index("trial_id")["resumed_from_epoch"]
    # Resumed from its last checkpoint Tune had registered: the one on disk when the node
    # died, or the one before it if the node died while that report was in flight.
    assert resumed[victims[0]] >= running[victims[0]] - 1 >= 1, "the retried trial did not resume from a checkpoint"
    # A trial whose driver (not its workers) was on the lost node is retried from its checkpoint too.
    assert set(resumed.index[resumed > 0]) <= set(running)

    for row in trials.itertuples():
        trial_dir = experiment / row.trial_dir
        epochs = sorted({r["epoch"] for r in _results(trial_dir)})
        assert epochs == list(range(1, EPOCHS + 1)), (row.trial_dir, epochs)
        assert list(trial_dir.glob("events.out.tfevents*")), f"no TensorBoard file in {trial_dir}"
        checkpoints = _checkpoints(experiment, row.trial_id)
        assert checkpoints, f"no checkpoint of trial {row.trial_id}"
        state = torch.load(checkpoints[-1], weights_only=True)  # the latest (a retried run may leave one more)
        assert state["epoch"] == EPOCHS
    assert (experiment / "best_config.json").is_file()
