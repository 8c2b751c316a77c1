"""One Tune trainable for every run: the job in the trial itself, or as a Ray Train run.

A *job* is a plain function ``job(params, shared, context)``: ``params`` are the trial's
configuration (Optuna's suggestion, or a CV grid point), ``shared`` is what every run reads
(the decoded images by :class:`~raycxr.run.ImageStore`, labels, splits …), ``context`` its
:class:`~raycxr.run.RunContext`. :func:`trainable` wraps a job for Tune:

* **function path** (one worker): the job runs in the Tune trial's actor, which holds the
  run's CPUs/GPUs. With ``TuneConfig(reuse_actors=True)`` the actor, its imported torch and
  its mapped images serve trial after trial: a trial starts in well under a second.
* **Train path** (several workers, or ``--trainer train``): the trial drives a
  ``TorchTrainer`` whose workers run the job under DDP and report to Tune through
  ``TuneReportCallback``; Train's controller, worker group and placement group cost seconds
  per trial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray.train
import ray.tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from raycxr.experiment import trial_dirname
from raycxr.run._context import RunContext, quiet_train_logs
from raycxr.run._scaling import Scaling

Job = Callable[[dict[str, Any], Any, RunContext], None]


def _train_worker(loop_config: dict[str, Any]) -> None:
    quiet_train_logs()
    loop_config["job"](loop_config["params"], loop_config["shared"], RunContext(in_train=True))


def _run(params: dict[str, Any], job: Job, shared: Any, scaling: Scaling, train_storage: str) -> None:
    """Tune's function trainable: run ``job`` on ``params`` by the path ``scaling`` chooses."""
    if not scaling.uses_train:
        quiet_train_logs()  # Tune's checkpoint code logs through ray.train too
        job(params, shared, RunContext(in_train=False))
        return
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"job": job, "params": params, "shared": shared},
        scaling_config=scaling.config(),
        run_config=ray.train.RunConfig(
            # Stable across restarts of the trial, so Ray Train resumes from its checkpoint.
            name=f"train-{ray.tune.get_context().get_trial_id()}",
            storage_path=train_storage,
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            failure_config=ray.train.FailureConfig(max_failures=scaling.max_failures),
        ),
    )
    trainer.fit()


#: The trainable's name: Tune names a trial ``<trainable>_<id>``, as raycxr names its folder.
TRAINABLE_NAME = trial_dirname("").rstrip("_")


def trainable(job: Job, shared: Any, scaling: Scaling, train_storage: str) -> Any:
    """A Tune trainable that runs ``job`` with ``shared`` (put in the object store once).

    It is named :data:`TRAINABLE_NAME`, so Tune's trial names (its tables, logs and errors)
    are the trial folders' names, ``trial_<id>``.

    Args:
        job: Module-level function ``job(params, shared, context)``.
        shared: What every run reads; shipped once by ``tune.with_parameters``.
        scaling: Resources per run and the execution path.
        train_storage: Where Train-path runs keep their checkpoints (``EXPERIMENT/train``).
    """
    wrapped = ray.tune.with_parameters(_run, job=job, shared=shared, scaling=scaling, train_storage=train_storage)
    wrapped.__name__ = TRAINABLE_NAME
    return ray.tune.with_resources(wrapped, scaling.trial_resources())


def tune_config_options(scaling: Scaling) -> dict[str, Any]:
    """``TuneConfig`` options of a path: function-path trials reuse their actors."""
    return {"reuse_actors": not scaling.uses_train}


def checkpoint_config() -> ray.tune.CheckpointConfig:
    """Function-path runs checkpoint through Tune: keep the last one (as Train-path runs do)."""
    return ray.tune.CheckpointConfig(num_to_keep=1)
