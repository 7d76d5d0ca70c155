"""Options from a TOML file: ``ferry serve --config ferry.toml``, and ``[tool.ferry]`` of
the current directory's ``pyproject.toml``.

A key is a ``Config`` field's name (``max_body_size``, or ``max-body-size`` as TOML tables
often spell them); its value has the field's type. Where a field may be "none" (such as
``max_body_size``), the string ``"none"`` sets it so, as on the command line. The files
only supply defaults: the environment (``FERRY_*``) and the command line win over them
(see ``ferry._cli``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._config import Config

__all__ = ["PYPROJECT_TABLE", "check_options", "options_from_file", "options_from_pyproject"]

PYPROJECT_TABLE = ("tool", "ferry")
_NOT_IN_A_FILE = {"config"}  # a file naming another file would be a chain to follow


def options_from_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The options of a TOML file whose top level is ``Config`` fields. Raises
    ``ConfigError`` naming the file: unreadable, not TOML, an unknown key, a wrong type."""
    return check_options(_read_toml(path), str(path))


def options_from_pyproject(directory: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The options in ``[tool.ferry]`` of ``directory``'s pyproject.toml; ``{}`` when there
    is no such file or no such table. Raises ``ConfigError`` as ``options_from_file``."""
    path = Path(directory) / "pyproject.toml"
    if not path.is_file():
        return {}
    table: Any = _read_toml(path)
    for key in PYPROJECT_TABLE:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.ferry] must be a table")
    return check_options(table, f"{path} [tool.ferry]")


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def check_options(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``table``'s keys as Config field names and its values checked against the
    fields' types; ``source`` names the file in errors."""
    hints = typing.get_type_hints(Config)
    names = [field.name for field in dataclasses.fields(Config)]
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in hints or name in _NOT_IN_A_FILE:
            raise ConfigError(f"{source}: unknown option {key!r}{_suggestion(name, names)}")
        if name in options:
            raise ConfigError(f"{source}: {key!r} is set twice (as - and as _)")
        options[name] = _checked(hints[name], value, f"{source}: {key}")
    return options


def _suggestion(name: str, names: list[str]) -> str:
    if name in _NOT_IN_A_FILE:
        return " (a config file cannot name another)"
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _checked(hint: Any, value: Any, where: str) -> Any:
    """``value`` if it fits ``hint`` (a Config field's type), else ConfigError."""
    args = typing.get_args(hint)
    if type(None) in args:
        if isinstance(value, str) and value.lower() == "none":
            return None
        hint = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        if value in choices:
            return value
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    if typing.get_origin(hint) is tuple:
        if isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
            return tuple(value)
        raise ConfigError(f"{where} must be a list of strings, not {value!r}")
    if hint is float and type(value) in (int, float):
        return float(value)
    if type(value) is hint:  # bool is no int here: `port = true` is a mistake
        return value
    kinds = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    kind = kinds.get(hint, getattr(hint, "__name__", str(hint)))
    if type(None) in args:
        kind += ' or "none"'
    raise ConfigError(f"{where} must be {kind}, not {value!r}")
