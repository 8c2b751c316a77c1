"""What a search prints: its trials, their parameters and objective, progress and errors; Ray's own output on request.

By default Tune's own reporter is off (its status table names no searched parameter under
Optuna, and its TensorBoard line points into Ray's temporary session folder) and
:class:`Console` says what happens instead: a line when a trial starts (its parameters),
ends (its objective) or fails (its error), a progress line every :data:`PROGRESS_EVERY_S`
seconds and, at the end, one table of every trial. ``--verbose`` (``TuneSettings.verbose``)
brings back Ray's and Tune's full output, warnings included.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from ray.tune import Callback
from ray.tune.experiment import Trial

from raycxr.experiment import PARAM_PREFIX, trial_dirname
from raycxr.tune._results import trial_row, trials_frame
from raycxr.tune._trial import TrialConfigs

#: Seconds between two progress lines.
PROGRESS_EVERY_S = 30.0
#: Tune's environment while a quiet search runs: its legacy output engine, which at
#: ``verbose=0`` prints nothing (the new one prints its own experiment table and a
#: TensorBoard line at any verbosity), and no warning each time experiment snapshots
#: come faster than every 5 s (the per-epoch checkpoints of short trials make them).
QUIET_TUNE_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}
#: Tune's INFO lines ("Wrote the latest version of all result files …") and those of Ray's
#: start-up: raycxr's own lines say where things are.
QUIET_LOGGERS = ("ray.tune", "ray.train")


@contextlib.contextmanager
def tune_output(verbose: bool) -> Iterator[None]:
    """Run Tune inside this block quietly (``verbose=False``) or with all of its output.

    Sets :data:`QUIET_TUNE_ENV` and raises :data:`QUIET_LOGGERS` to WARNING in this (the
    driver's) process, and restores both afterwards; warnings and errors still show.
    """
    if verbose:
        yield
        return
    saved_env = {name: os.environ.get(name) for name in QUIET_TUNE_ENV}
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    saved_levels = [logger.level for logger in loggers]
    os.environ.update(QUIET_TUNE_ENV)
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for logger, level in zip(loggers, saved_levels):
            logger.setLevel(level)


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _format(value)


def _params(trial: Trial) -> str:
    return ", ".join(f"{k}={_format(v)}" for k, v in trial.config.items()) or "no parameters"


def _name(trial: Trial) -> str:
    return trial_dirname(trial.trial_id)  # as Tune names it too (raycxr.run.trainable)


class Console(Callback):
    """Tune callback printing the search's progress: trials, parameters, objective, errors, one final table.

    Args:
        configs: Maps a trial's parameters to its training configuration.
        metrics: The objective(s) (and constrained metrics): the table's metric columns.
        mode: ``min`` or ``max`` of ``metrics[0]``, for the best trial so far.
        every_s: Seconds between two progress lines.
    """

    def __init__(
        self, configs: TrialConfigs, metrics: Sequence[str], mode: str, every_s: float = PROGRESS_EVERY_S
    ) -> None:
        self.configs = configs
        self.metrics = list(metrics)
        self.mode = mode
        self.every_s = every_s
        self._start = time.monotonic()
        self._last = self._start

    def __getstate__(self) -> dict[str, Any]:  # pickled with the Tuner; restored in a new process
        return {k: v for k, v in self.__dict__.items() if k not in ("_start", "_last")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start = self._last = time.monotonic()

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        print(f"{_name(trial)} started: {_params(trial)}", flush=True)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        result = trial.last_result or {}
        values = ", ".join(f"{m} {_format(result.get(m))}" for m in self.metrics)
        epochs = result.get("epoch")
        seconds = result.get("time_total_s")
        took = f" after {int(epochs)} epoch(s), {seconds:.0f} s" if epochs is not None and seconds is not None else ""
        print(f"{_name(trial)} finished: {values}{took}", flush=True)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        error = trial_row(trial, self.configs, self.metrics)["error"]
        if error in ("", "unknown error"):  # Tune records the error after its callbacks; its traceback is logged
            error = "see the traceback above (the error also goes in trials.csv and the table below)"
        print(f"{_name(trial)} errored: {error}", flush=True)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(self.progress(trials, now - self._start), flush=True)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        print(self.progress(trials, time.monotonic() - self._start), flush=True)
        print(self.table(trials), flush=True)

    def progress(self, trials: list[Trial], elapsed: float) -> str:
        """One line: trials by status, the best so far, the time since the search (re)started."""
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial.status.lower()] = counts.get(trial.status.lower(), 0) + 1
        line = f"Progress ({elapsed // 60:.0f} min {elapsed % 60:02.0f} s): " + ", ".join(
            f"{n} {status}" for status, n in sorted(counts.items())
        )
        metric = self.metrics[0]
        scored = [t for t in trials if isinstance((t.last_result or {}).get(metric), (int, float))]
        if scored:
            pick = max if self.mode == "max" else min
            best = pick(scored, key=lambda t: t.last_result[metric])
            line += f"; best {metric} {_format(best.last_result[metric])} ({_name(best)})"
        return line

    def table(self, trials: list[Trial]) -> str:
        """Every trial: name, status, parameters, the objective(s), epochs, seconds, error."""
        frame = trials_frame(trials, self.configs, self.metrics)
        if frame.empty:
            return "No trials."
        frame["trial"] = [_name(t) for t in sorted(trials, key=lambda t: t.trial_id)]
        params = [c for c in frame.columns if c.startswith(PARAM_PREFIX)]
        columns = ["trial", "status", *params, *self.metrics, "epochs", "seconds", "error"]
        frame["seconds"] = pd.to_numeric(frame["seconds"], errors="coerce").round()  # None: never reported
        if not frame["error"].astype(bool).any():
            columns.remove("error")
        shown = pd.DataFrame(
            {c.removeprefix(PARAM_PREFIX): [_cell(v) for v in frame[c]] for c in columns}  # as text: blanks for NaN
        )
        return shown.to_string(index=False)
