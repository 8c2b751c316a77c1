"""``python -m raycxr.dashboard EXPERIMENT``: optuna-dashboard and TensorBoard on one experiment, side by side."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from raycxr.dashboard._servers import (
    DEFAULT_HOST,
    DEFAULT_OPTUNA_PORT,
    DEFAULT_TENSORBOARD_PORT,
    Dashboards,
    ServerError,
    check_experiment,
    check_port,
    optuna_server,
    tensorboard_server,
)

#: Signals that stop both servers, as Ctrl-C (SIGINT) does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return int(text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.dashboard",
        description="Serve an experiment's dashboards side by side until Ctrl-C: optuna-dashboard on its Optuna "
        "study (EXPERIMENT/optuna.db: history, importances, parallel coordinates) and TensorBoard on its trials' "
        "event files (Scalars; HParams: every trial's parameters and final metrics). Works on a finished search "
        "and on one still running.",
    )
    parser.add_argument("experiment", type=Path, help="the search's experiment folder (STORAGE/NAME)")
    parser.add_argument(
        "--port-optuna", type=_port, default=DEFAULT_OPTUNA_PORT, help="optuna-dashboard's port (default %(default)s)"
    )
    parser.add_argument(
        "--port-tensorboard",
        type=_port,
        default=DEFAULT_TENSORBOARD_PORT,
        help="TensorBoard's port (default %(default)s)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address both servers listen on (default %(default)s: this machine only; reach it from elsewhere "
        "with ssh -L). Neither dashboard asks for a password.",
    )
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    try:
        experiment = check_experiment(args.experiment)
        if args.port_optuna == args.port_tensorboard:
            raise ValueError(f"--port-optuna and --port-tensorboard must differ (both {args.port_optuna}).")
        check_port(args.host, args.port_optuna, "--port-optuna")
        check_port(args.host, args.port_tensorboard, "--port-tensorboard")
        servers = [
            optuna_server(experiment, args.host, args.port_optuna),
            tensorboard_server(experiment, args.host, args.port_tensorboard),
        ]
    except ValueError as error:
        cli.exit(2, f"error: {error}\n")
    optuna, tensorboard = servers
    study = f"study {experiment.study_name!r}" if experiment.study_id is not None else "all studies"
    print(f"optuna-dashboard: {optuna.url}  ({study} in {experiment.study_db})", flush=True)
    print(f"TensorBoard:      {tensorboard.url}  (HParams: {tensorboard.url}#hparams)", flush=True)
    if not _loopback(args.host):
        print(
            f"warning: --host {args.host}: both dashboards are open to anyone who reaches this address, "
            "without a password.",
            file=sys.stderr,
            flush=True,
        )
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    dashboards = None
    try:
        dashboards = Dashboards(servers)
        dashboards.wait_ready()
        print("ready (Ctrl-C stops both)", flush=True)
        while True:
            dashboards.check_alive()
            time.sleep(0.5)
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        code = 0
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if dashboards is not None:
            dashboards.stop()
    print("stopped", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
