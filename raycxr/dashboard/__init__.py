"""The dashboards of one experiment side by side: optuna-dashboard on its study, TensorBoard on its trials."""

from __future__ import annotations

from raycxr.dashboard._servers import (
    DEFAULT_HOST,
    DEFAULT_OPTUNA_PORT,
    DEFAULT_TENSORBOARD_PORT,
    Dashboards,
    Experiment,
    Server,
    ServerError,
    check_experiment,
    check_port,
    optuna_server,
    tensorboard_server,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_OPTUNA_PORT",
    "DEFAULT_TENSORBOARD_PORT",
    "Dashboards",
    "Experiment",
    "Server",
    "ServerError",
    "check_experiment",
    "check_port",
    "optuna_server",
    "tensorboard_server",
]
