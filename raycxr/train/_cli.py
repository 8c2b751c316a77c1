"""Command-line options generated from :class:`TrainConfig`, and ``--config FILE.yaml``."""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from raycxr.train._config import format_validation_error, load_yaml


def _alpha(value: str) -> str | list[float]:
    if value == "paper":
        return value
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'paper' or comma-separated numbers, got {value!r}") from None


def _int_list(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def _str_list(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {value!r}")
    return names


def _mapping(value: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in value.split(",")]
    if not all(len(p) == 2 and p[0].strip() and p[1].strip() for p in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME=NEW,NAME=NEW, got {value!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def _option(parser: argparse.ArgumentParser, name: str, field: Any) -> None:
    flag = "--" + name.replace("_", "-")
    annotation = field.annotation
    args = typing.get_args(annotation)
    optional = [a for a in args if a is not type(None)]
    is_union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    if is_union and len(optional) == 1 and optional[0] is not Path:
        annotation = optional[0]  # ``int | None`` → an int option whose default is None
        args = typing.get_args(annotation)
    help_text = f"{field.description} (default: {field.default})"
    kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text.replace("%", "%%")}
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(annotation) is typing.Literal:
        kwargs |= {"choices": args, "metavar": "{" + ",".join(map(str, args)) + "}"}
    elif name == "alpha":
        kwargs |= {"type": _alpha, "metavar": "paper|A,B,..."}
    elif annotation == list[int]:
        kwargs |= {"type": _int_list, "metavar": "N,N,..."}
    elif annotation == list[str]:
        kwargs |= {"type": _str_list, "metavar": "NAME,NAME,..."}
    elif annotation == dict[str, str]:
        kwargs |= {"type": _mapping, "metavar": "NAME=NEW,..."}
    elif annotation in (int, float):
        kwargs |= {"type": annotation, "metavar": annotation.__name__.upper()}
    elif Path in args or annotation is Path or isinstance(annotation, types.UnionType):
        kwargs |= {"metavar": "PATH" if Path in args else "VALUE"}
    parser.add_argument(flag, **kwargs)


def add_config_options(parser: argparse.ArgumentParser, model: type[BaseModel], skip: Sequence[str] = ()) -> None:
    """Add ``--config FILE.yaml`` and one ``--option`` per field of ``model``."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE.yaml",
        help="read settings from a YAML file; options given on the command line win",
    )
    for name, field in model.model_fields.items():
        if name not in skip:
            _option(parser, name, field)


def config_from_args(args: argparse.Namespace, model: type[BaseModel], skip: Sequence[str] = ()) -> BaseModel:
    """Merge ``--config`` with the command-line options and validate.

    Raises:
        ValueError: A bad file or value; one line per problem, naming the source and field.
    """
    values: dict[str, Any] = {}
    source = "command line"
    if args.config is not None:
        values = load_yaml(args.config)
        source = f"{args.config} / command line"
    values |= {k: v for k, v in vars(args).items() if k in model.model_fields and k not in skip}
    try:
        return model(**values)
    except ValidationError as error:
        raise ValueError(format_validation_error(error, source)) from None


def run_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, model: type[BaseModel], run: Callable[[Any], Any]
) -> Any:
    """Validate ``args`` into ``model`` and call ``run`` with it; bad input exits 2 with a one-line error."""
    try:
        return run(config_from_args(args, model))
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
