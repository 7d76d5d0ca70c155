"""``ferry`` on the command line. The ``serve`` options are generated from ``Config``:
each field is a flag, with its type, default, choices and help, and a ``FERRY_<NAME>``
environment variable that sets its default.

Where a value comes from, the first that has it: the command line, the environment
(``FERRY_*``, also from ``--env-file``), the ``--config`` file, ``[tool.ferry]`` of
./pyproject.toml, the field's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ._envfile import load_env_file
from ._errors import ConfigError
from ._version import __version__
from .asgi._lifespan import LifespanFailure
from .client._fetch_cli import add_fetch_command, run_fetch
from .server import Config, Server
from .server._config_file import options_from_file, options_from_pyproject
from .server._tls import server_context
from .workers import Supervisor
from .workers._reload import ChangeWatcher

__all__ = ["build_parser", "config_from_args", "main", "prepare"]

_GROUP_TITLES = {
    "app": "application",
    "socket": "listening socket",
    "server": "server",
    "proxy": "the proxy in front",
    "workers": "worker processes",
    "limits": "limits (what a request may carry)",
    "timeouts": "timeouts (seconds)",
    "tls": "TLS (HTTPS; uvicorn's names)",
    "metrics": "metrics (Prometheus)",
}


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "") else convert(text)

    parse.__name__ = convert.__name__
    return parse


def _parse_list(text: str) -> tuple[str, ...]:
    """A repeatable option's FERRY_* value: its values separated by commas."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


class _Repeated(argparse.Action):
    """A flag given once per value (``--reload-dir a --reload-dir b``): the values given
    replace the default (from the environment or a file), they are not added to it."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        current = getattr(namespace, self.dest)
        if current is self.default:
            current = ()
        setattr(namespace, self.dest, (*current, values))


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {text!r}")


def _field_argument(
    field: dataclasses.Field[Any], hint: Any, file_value: Any = dataclasses.MISSING
) -> tuple[list[str], dict[str, Any]]:
    """The argparse flags (Ferry's, then its aliases) and keyword arguments for one
    Config field; ``file_value`` is its value in the config files, if they set it."""
    flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
    aliases = list(field.metadata.get("aliases", ()))
    kwargs: dict[str, Any] = {"dest": field.name, "help": field.metadata["help"]}
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(base) is tuple:
        kwargs["action"] = _Repeated
        kwargs["metavar"] = field.name.upper().rpartition("_")[2]
    elif typing.get_origin(base) is typing.Literal:
        kwargs["choices"] = list(typing.get_args(base))
    else:
        kwargs["type"] = _optional(base) if optional else base
        kwargs["metavar"] = field.name.upper().removeprefix("MAX_")
    names = [f"FERRY_{field.name.upper()}", *field.metadata.get("env", ())]
    variable = next((name for name in names if name in os.environ), None)
    default = field.default if file_value is dataclasses.MISSING else file_value
    if variable is not None:
        convert = _parse_bool if base is bool else kwargs.get("type", str)
        if typing.get_origin(base) is tuple:
            convert = _parse_list
        default = _env_value(variable, os.environ[variable], convert, kwargs.get("choices"))
    kwargs["default"] = default
    kwargs["help"] += " (default: %(default)s)"
    if aliases:
        kwargs["help"] += f"; {', '.join(aliases)}: uvicorn's name"
    return [flag, *aliases], kwargs


def _switch_arguments(field: dataclasses.Field[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The flags that take no value and set a field to a fixed one (uvicorn's
    ``--no-server-header``), with their keyword arguments."""
    flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
    return [
        (
            switch,
            {
                "dest": field.name,
                "action": "store_const",
                "const": value,
                "default": argparse.SUPPRESS,  # the field's own flag sets the default
                "help": f"uvicorn's name for {flag} {value!r}",
            },
        )
        for switch, value in field.metadata.get("switches", {}).items()
    ]


def _uvicorn_names() -> str:
    """The epilog of ``ferry serve --help``: the uvicorn names it accepts."""
    names = []
    for field in dataclasses.fields(Config):
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        names += [f"{alias} (= {flag})" for alias in field.metadata.get("aliases", ())]
        names += [
            f"{switch} (= {flag} {value!r})"
            for switch, value in field.metadata.get("switches", {}).items()
        ]
    return (
        "uvicorn's names for the same settings are accepted too: "
        + ", ".join(names)
        + "; --app-dir, --env-file, --ws and --http take uvicorn's values. Options cannot "
        "be abbreviated."
    )


def _env_value(
    variable: str, text: str, convert: Callable[[str], Any], choices: list[Any] | None
) -> Any:
    """The value of the environment variable ``variable`` (FERRY_<NAME>, or another the
    field reads), converted like its flag's. argparse checks neither the type
    nor the choices of a default, so a bad value is a ConfigError here, not a traceback
    (or a silently ignored setting) later."""
    try:
        value = convert(text)
        valid = choices is None or value in choices
    except ValueError:  # ConfigError is one
        valid = False
    if not valid:
        raise ConfigError(f"{variable}: invalid value {text!r}")
    return value


def build_parser(file_options: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The parser of ``ferry``; ``file_options`` are the config files' values, the
    defaults of ``serve``'s flags unless the environment sets them."""
    file_options = file_options or {}
    parser = argparse.ArgumentParser(
        prog="ferry",
        description="Ferry: a fast, strict HTTP/1.1 server for ASGI apps.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"ferry {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve an ASGI application",
        description="Serve an ASGI 3 application over HTTP/1.1. Every option can also be "
        "set with an environment variable FERRY_<OPTION> (e.g. FERRY_PORT=9000).",
        epilog=_uvicorn_names(),
        allow_abbrev=False,
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
                default=file_options.get("app", ""),
                help="the application, as module:attribute, or a directory to serve "
                "(default: the current directory); a directory with Python code in it "
                "needs --static",
            )
            continue
        file_value = file_options.get(field.name, dataclasses.MISSING)
        flags, kwargs = _field_argument(field, hints[field.name], file_value)
        groups[group].add_argument(*flags, **kwargs)
        for switch, switch_kwargs in _switch_arguments(field):
            groups[group].add_argument(switch, **switch_kwargs)
    add_fetch_command(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    names = {field.name for field in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in vars(args).items() if k in names})


def _scan(argv: Sequence[str]) -> argparse.Namespace:
    """``serve``'s --env-file and --config, read before the parser is built."""
    scan = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    scan.add_argument("--env-file")
    scan.add_argument("--config")
    known, _ = scan.parse_known_args(argv[1:])
    return known


def prepare(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Load what sets the defaults of ``ferry serve`` (its env file, its config files) and
    build the parser. Raises ConfigError for a file that cannot be read or is wrong."""
    if not argv or argv[0] != "serve":
        return build_parser()
    known = _scan(argv)
    env_file = known.env_file or os.environ.get("FERRY_ENV_FILE")
    _load_env_file(env_file)
    options = options_from_pyproject()
    config = known.config or os.environ.get("FERRY_CONFIG")
    if config:
        options.update(options_from_file(config))
    if not env_file and options.get("env_file"):
        _load_env_file(options["env_file"])  # before the parser reads FERRY_* variables
    return build_parser(options)


def _load_env_file(path: str | None) -> None:
    """Load ``--env-file FILE`` (or FERRY_ENV_FILE), so that its FERRY_* variables set
    the defaults as the environment's do. Raises ConfigError if it cannot be read."""
    if not path:
        return
    try:
        load_env_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the --env-file {path!r}: {exc}") from None


def _check_uvicorn_choices(config: Config) -> None:
    """What uvicorn's ``--ws`` and ``--http`` values mean here. Raises ConfigError for
    ``--ws websockets`` without the websockets package."""
    if config.http != "auto":
        print(
            f"ferry: note: --http {config.http} is accepted for uvicorn's command lines and "
            "ignored: Ferry always uses its own HTTP/1.1 engine",
            file=sys.stderr,
        )
    if config.ws == "websockets" and importlib.util.find_spec("websockets") is None:
        raise ConfigError("--ws websockets needs the websockets package: pip install 'ferry[ws]'")


def _supervise(config: Config, arguments: list[str]) -> int:
    """``--workers N``: the main process's life; its exit status. A SIGHUP reads the
    configuration again (files and command line), for the new workers."""

    def reload_config() -> Config:
        return config_from_args(prepare(arguments).parse_args(arguments))

    watcher = None
    if config.reload:
        watcher = ChangeWatcher(config.reload_dir, config.reload_include, config.reload_exclude)
    try:
        return Supervisor(config, reload_config, watcher).run()
    except ConfigError as exc:  # the access log file cannot be opened
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ferry: cannot listen: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ferry`` and ``python -m ferry``; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = prepare(arguments)
    except ConfigError as exc:
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(arguments)
        if args.command == "fetch":
            return run_fetch(args)
        config = config_from_args(args)
        _check_uvicorn_choices(config)
        if config.workers > 1 or config.reload:
            if config.ssl_certfile is not None:
                server_context(config)  # once, here: its errors come before any fork
            return _supervise(config, arguments)
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
    except ConfigError as exc:  # the access log file cannot be opened
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ferry: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
