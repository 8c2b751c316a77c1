"""End to end on a local Ray cluster (2 CPUs): real trials, real Optuna, real TensorBoard files."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import ray
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from raycxr.experiment import BEST_FILE, STUDY_FILE, TRIALS_FILE
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield
    ray.shutdown()


def _events(trial_dir: Path) -> EventAccumulator:
    (event_file,) = trial_dir.glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(event_file))
    accumulator.Reload()
    return accumulator


def _hparams(accumulator: EventAccumulator) -> dict[str, object]:
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}


def test_search_end_to_end(ray_cluster, tiny_dataset: Path, conditional_space: Path, tmp_path: Path) -> None:
    settings = TuneSettings(
        space=str(conditional_space),
        data=tiny_dataset,
        storage=str(tmp_path / "storage"),
        name="e2e",
        num_samples=4,
        workers_per_trial=2,
        seed=0,
        set=FAST,
    )
    result = run_search(settings)
    directory = tmp_path / "storage" / "e2e"
    trials = pd.read_csv(directory / TRIALS_FILE)
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials[["status", "error"]]
    assert (trials["world_size"] == 2).all()  # every trial was a 2-worker DDP run
    assert not result.interrupted
    # Conditional parameter: beta exactly where the loss is the attention loss.
    assert (trials["param_beta"].notna() == (trials["param_loss"] == "attention")).all()

    # The Optuna study on disk agrees with trials.csv and best_config.json.
    study = optuna.load_study(study_name="e2e", storage=f"sqlite:///{directory / STUDY_FILE}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    assert sorted(t.value for t in complete) == pytest.approx(sorted(trials["best_val_f1_macro"]))
    for t in complete:
        row = trials[trials["param_lr"].sub(t.params["lr"]).abs() < 1e-12]
        assert len(row) == 1 and row["best_val_f1_macro"].item() == pytest.approx(t.value)
        assert row["param_loss"].item() == t.params["loss"]
    best = json.loads((directory / BEST_FILE).read_text())
    assert best["value"] == pytest.approx(study.best_value) == pytest.approx(trials["best_val_f1_macro"].max())
    best_row = trials[trials["trial_id"] == best["trial_id"]].iloc[0]
    assert best["params"]["lr"] == pytest.approx(best_row["param_lr"])
    assert best["train_config"]["epochs"] == 2 and best["train_config"]["image_size"] == 64

    for _, row in trials.iterrows():
        # TensorBoard: per-epoch scalars and the trial's searched parameters as hparams.
        accumulator = _events(directory / row["trial_dir"])
        steps = [event.step for event in accumulator.Scalars("ray/tune/val_f1_macro")]
        assert steps == [1, 2]
        assert "ray/tune/best_val_f1_macro" in accumulator.Tags()["scalars"]
        params = {k.removeprefix("param_"): v for k, v in row.items() if k.startswith("param_") and pd.notna(v)}
        hparams = _hparams(accumulator)
        assert set(hparams) == set(params)
        assert hparams["lr"] == pytest.approx(params["lr"]) and hparams["loss"] == params["loss"]
        # The Train run's checkpoint holds the full training state, loadable without pickle.
        (checkpoint,) = (directory / "train" / f"train-{row['trial_id']}").glob("checkpoint_*/state.pt")
        state = torch.load(checkpoint, weights_only=True)
        assert state["epoch"] == 2 and "classifier.weight" in state["best_model"]


def test_a_crashing_trial_is_recorded_and_the_search_goes_on(ray_cluster, tiny_dataset: Path, tmp_path: Path) -> None:
    space = tmp_path / "nan.yaml"
    space.write_text(
        """
params:
  weighting:
    type: categorical
    choices:
      plain: {loss: ce}
      broken: {loss: alpha, alpha: [3.0e+38, 3.0e+38, 3.0e+38, 3.0e+38]}   # the loss overflows float32
search: {sampler: grid}
"""
    )
    settings = TuneSettings(
        space=str(space), data=tiny_dataset, storage=str(tmp_path), name="nan", seed=0, set=[*FAST, "epochs=1"]
    )
    result = run_search(settings)
    trials = result.trials.set_index("param_weighting")
    assert trials.loc["plain", "status"] == "completed"
    assert trials.loc["broken", "status"] == "errored"
    assert re.match(r"FloatingPointError: training loss became (inf|nan) in epoch 1", trials.loc["broken", "error"])
    assert result.best is not None and result.best["params"] == {"weighting": "plain"}


def test_gpus_on_a_cluster_without_gpus_is_an_error_before_trials(
    ray_cluster, tiny_dataset: Path, tmp_path: Path
) -> None:
    settings = TuneSettings(data=tiny_dataset, storage=str(tmp_path), name="gpu", gpus_per_worker=1, set=FAST)
    with pytest.raises(ValueError, match=r"--gpus-per-worker 1: the Ray cluster has no GPUs \(2 CPUs\)"):
        run_search(settings)
    settings = TuneSettings(data=tiny_dataset, storage=str(tmp_path), name="big", workers_per_trial=3, set=FAST)
    with pytest.raises(
        ValueError, match=r"--workers-per-trial 3: one trial needs 3 CPUs and 0 GPUs; the cluster has 2 CPUs"
    ):
        run_search(settings)
    assert not (tmp_path / "gpu" / TRIALS_FILE).exists()


def test_asha_prunes_on_two_cpus_and_releases_resources(
    ray_cluster, tiny_dataset: Path, conditional_space: Path, tmp_path: Path
) -> None:
    settings = TuneSettings(
        space=str(conditional_space),
        data=tiny_dataset,
        storage=str(tmp_path),
        name="asha",
        num_samples=6,
        scheduler="asha",
        grace_period=1,
        reduction_factor=2,
        seed=1,
        set=[*FAST, "epochs=4", "patience=4"],
    )
    result = run_search(settings)
    trials = result.trials
    assert len(trials) == 6 and not (trials["status"] == "errored").any(), trials[["status", "error"]]
    pruned = trials[trials["status"] == "pruned"]
    assert len(pruned) >= 1 and (pruned["epochs"] < 4).all()
    assert (trials[trials["status"] == "completed"]["epochs"] == 4).all()
    # optuna.db agrees: a trial ASHA stopped is PRUNED (with its last value), not COMPLETE.
    study = optuna.load_study(study_name="asha", storage=f"sqlite:///{tmp_path / 'asha' / STUDY_FILE}")
    for _, row in trials.iterrows():
        (trial,) = [t for t in study.trials if abs(t.params["lr"] - row["param_lr"]) < 1e-12]
        expected = optuna.trial.TrialState.PRUNED if row["status"] == "pruned" else optuna.trial.TrialState.COMPLETE
        assert trial.state == expected, (row["trial_id"], row["status"], trial.state)
        assert trial.value == pytest.approx(row["best_val_f1_macro"])
    # Every Train run's workers give their CPUs back, pruned ones included (Train's
    # placement-group cleaner works asynchronously: allow it a few seconds).
    deadline = time.monotonic() + 60
    while (live := _live_placement_groups()) or ray.available_resources().get("CPU") != 2:
        assert time.monotonic() < deadline, live
        time.sleep(1)


def _live_placement_groups() -> list[dict]:
    return [pg for pg in ray.util.placement_group_table().values() if pg["state"] != "REMOVED"]


def test_uri_storage_receives_every_result_file(ray_cluster, tiny_dataset: Path, tmp_path: Path) -> None:
    settings = TuneSettings(
        data=tiny_dataset, storage=f"file://{tmp_path}/bucket", name="uri", num_samples=1, set=[*FAST, "epochs=1"]
    )
    result = run_search(settings)
    remote = tmp_path / "bucket" / "uri"
    for name in (TRIALS_FILE, BEST_FILE, STUDY_FILE, "raycxr.json", "splits.csv", "leakage.csv", "search_rows.csv"):
        assert (remote / name).is_file(), name
    assert pd.read_csv(remote / TRIALS_FILE)["status"].tolist() == ["completed"]
    # A one-worker trial trains in its Tune trial: Tune writes its checkpoints to the URI.
    assert list(remote.glob("trial_*/events.out.tfevents.*")) and list(remote.glob("trial_*/checkpoint_*/state.pt"))
    assert json.loads((remote / BEST_FILE).read_text())["trial_id"] == result.best["trial_id"]
