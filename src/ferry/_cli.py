"""``ferry`` on the command line. The ``serve`` options are generated from ``Config``:
each field is a flag, with its type, default, choices and help, and a ``FERRY_<NAME>``
environment variable that sets its default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ._errors import ConfigError
from ._version import __version__
from .asgi._lifespan import LifespanFailure
from .client._fetch_cli import add_fetch_command, run_fetch
from .server import Config, Server

__all__ = ["build_parser", "config_from_args", "main"]

_GROUP_TITLES = {
    "app": "application",
    "socket": "listening socket",
    "server": "server",
    "limits": "limits (what a request may carry)",
    "timeouts": "timeouts (seconds)",
}


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "") else convert(text)

    parse.__name__ = convert.__name__
    return parse


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {text!r}")


def _field_argument(field: dataclasses.Field[Any], hint: Any) -> tuple[str, dict[str, Any]]:
    """The argparse flag and keyword arguments for one Config field."""
    flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
    kwargs: dict[str, Any] = {"dest": field.name, "help": field.metadata["help"]}
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(base) is typing.Literal:
        kwargs["choices"] = list(typing.get_args(base))
    else:
        kwargs["type"] = _optional(base) if optional else base
        kwargs["metavar"] = field.name.upper().removeprefix("MAX_")
    env = os.environ.get(f"FERRY_{field.name.upper()}")
    default = field.default
    if env is not None:
        convert = _parse_bool if base is bool else kwargs.get("type", str)
        default = _env_value(field.name, env, convert, kwargs.get("choices"))
    kwargs["default"] = default
    kwargs["help"] += " (default: %(default)s)"
    return flag, kwargs


def _env_value(
    name: str, text: str, convert: Callable[[str], Any], choices: list[Any] | None
) -> Any:
    """A FERRY_<NAME> value, converted like its flag's. argparse checks neither the type
    nor the choices of a default, so a bad value is a ConfigError here, not a traceback
    (or a silently ignored setting) later."""
    try:
        value = convert(text)
        valid = choices is None or value in choices
    except ValueError:  # ConfigError is one
        valid = False
    if not valid:
        raise ConfigError(f"FERRY_{name.upper()}: invalid value {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferry", description="Ferry: a fast, strict HTTP/1.1 server for ASGI apps."
    )
    parser.add_argument("--version", action="version", version=f"ferry {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve an ASGI application",
        description="Serve an ASGI 3 application over HTTP/1.1. Every option can also be "
        "set with an environment variable FERRY_<OPTION> (e.g. FERRY_PORT=9000).",
    )
    hints = typing.get_type_hints(Config)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for field in dataclasses.fields(Config):
        group = field.metadata["group"]
        if group not in groups:
            groups[group] = serve.add_argument_group(_GROUP_TITLES[group])
        if field.name == "app":
            groups[group].add_argument(
                "app",
                metavar="TARGET",
                nargs="?",
                default="",
                help="the application, as module:attribute, or a directory to serve "
                "(default: the current directory)",
            )
            continue
        flag, kwargs = _field_argument(field, hints[field.name])
        groups[group].add_argument(flag, **kwargs)
    add_fetch_command(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    names = {field.name for field in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ferry`` and ``python -m ferry``; returns the exit status."""
    try:
        parser = build_parser()
    except ConfigError as exc:
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
        if args.command == "fetch":
            return run_fetch(args)
        config = config_from_args(args)
        server = Server(config)
    except ConfigError as exc:
        parser.exit(2, f"ferry: error: {exc}\n")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except LifespanFailure as exc:
        print(f"ferry: application startup failed: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"ferry: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
