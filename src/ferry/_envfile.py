"""``.env`` files, read as python-dotenv (and so uvicorn's ``--env-file``) reads them.

One assignment per line: ``KEY=VALUE``, optionally after ``export``; blank lines and
lines starting with ``#`` are skipped. A value is

- unquoted: up to the end of the line or a comment (a ``#`` after a space), surrounding
  spaces dropped;
- in single quotes: taken as written but for ``\\'`` and ``\\\\`` (it may span lines);
- in double quotes: with the escapes ``\\n \\t \\r \\" \\\\ \\'`` (and ``\\a \\b \\f \\v``)
  decoded; it may span lines.

Unquoted and double-quoted values expand ``${NAME}`` and ``${NAME:-default}`` from the
variables defined above in the file, then the environment. A line that is none of these
(a ``KEY`` without ``=``, a stray word) is skipped, as python-dotenv skips it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

__all__ = ["load_env_file", "parse_env"]

_ASSIGNMENT = re.compile(
    r"""
    [ \t]*(?:export[ \t]+)?
    (?P<key>[A-Za-z_][A-Za-z0-9_.-]*)
    [ \t]*=[ \t]*
    (?:
        '(?P<single>(?:\\.|[^'\\])*)'
      | "(?P<double>(?:\\.|[^"\\])*)"
      | (?P<bare>[^\r\n]*)
    )
    [ \t]*(?:\#[^\r\n]*)?(?:\r?\n|\Z)
    """,
    re.VERBOSE | re.DOTALL,
)
_BARE_COMMENT = re.compile(r"[ \t]+#.*")  # python-dotenv: a # after a space
_OTHER_LINE = re.compile(r"[^\n]*\n?")
_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_SINGLE_ESCAPE = re.compile(r"\\([\\'])")  # python-dotenv: only \' and \\ in single quotes
_ESCAPE = re.compile(r"\\([\\'\"abfnrtv])")
_EXPANSION = re.compile(r"\$\{(?P<name>[^}:]+)(?::-(?P<default>[^}]*))?\}")


def parse_env(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables ``text`` assigns, in order; ``environ`` (default: ``os.environ``)
    is what ``${NAME}`` falls back to."""
    outside = os.environ if environ is None else environ
    values: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _ASSIGNMENT.match(text, position)
        if match is None:
            other = _OTHER_LINE.match(text, position)
            assert other is not None  # it matches any line, even an empty one
            position = other.end()
            continue
        position = match.end()
        key, single, double = match.group("key", "single", "double")
        if single is not None:
            values[key] = _SINGLE_ESCAPE.sub(r"\1", single)
        elif double is not None:
            values[key] = _expand(_unescape(double), values, outside)
        else:
            bare = _BARE_COMMENT.sub("", match.group("bare")).strip()
            values[key] = _expand(bare, values, outside)
    return values


def _unescape(text: str) -> str:
    """python-dotenv's escapes in double quotes; any other backslash stays as written."""
    return _ESCAPE.sub(lambda match: _ESCAPES[match.group(1)], text)


def _expand(text: str, values: Mapping[str, str], outside: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name", "default")
        found = values.get(name, outside.get(name))
        return found if found else (default or "")

    return _EXPANSION.sub(replace, text)


def load_env_file(path: str, environ: MutableMapping[str, str] | None = None) -> None:
    """Set the variables of the file at ``path`` in ``environ`` (default: ``os.environ``),
    keeping those already set (python-dotenv's ``load_dotenv`` does the same). Raises
    OSError if the file cannot be read, UnicodeDecodeError if it is not UTF-8."""
    target = os.environ if environ is None else environ
    text = Path(path).read_text(encoding="utf-8")
    for key, value in parse_env(text, target).items():
        target.setdefault(key, value)
