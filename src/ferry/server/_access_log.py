"""The access log: the line of one exchange, in the format the operator chose, and the
file it may go to.

A format is compiled once, at startup (``access_writer``), into the one function the
server calls per response: the default (combined log format plus the duration in
milliseconds, unchanged since the first release; ``_combined_log``, which the
accelerator compiles), ``json`` (one object a line), or a
format of gunicorn's atoms (``%(h)s %(t)s "%(r)s" %(s)s ...``), turned into a
``%``-template and the getters of the atoms it names, so that a request pays for the
atoms used and nothing is parsed per request. An unknown atom is a ``ConfigError`` at
startup, naming it (gunicorn prints ``-`` for it, for every request, silently).

Lines go to the ``ferry.access`` logger. ``--access-log-file`` gives that logger an
``AccessLogFile``: each line one ``write`` to a descriptor opened with ``O_APPEND``, so
that the workers of one server, each with its own descriptor, never interleave within
a line; ``reopen_access_files`` (on SIGUSR1) opens the path again, for logrotate.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import logging
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._errors import ConfigError
from ._combined_log import clf_time, write_combined

if TYPE_CHECKING:
    from ..http1 import Fields, Request

__all__ = [
    "AccessLogFile",
    "AccessWriter",
    "Exchange",
    "access_writer",
    "check_format",
    "compile_format",
    "reopen_access_files",
]

access_logger = logging.getLogger("ferry.access")
error_logger = logging.getLogger("ferry.error")

Client = tuple[str, int] | None
AccessWriter = Callable[["Request", Client, int, int, float, "Fields"], None]
"""Writes the line of one exchange: (request, client, status, body bytes, the
``perf_counter()`` it started at, the response's fields as the application gave them).
For the end of a WebSocket session, the status is its close code (1000-4999)."""


# -- the default format, and json -------------------------------------------------------


def access_writer(format: str | None) -> AccessWriter:
    """The writer of ``format``: None for the default, ``json``, or gunicorn's atoms.
    Raises ConfigError for a format that names an unknown atom or is malformed."""
    if format is None:
        return write_combined
    line = _json_line if format == "json" else compile_format(format)

    def write(
        request: Request,
        client: Client,
        status: int,
        body_bytes: int,
        start_time: float,
        response_headers: Fields,
    ) -> None:
        if access_logger.isEnabledFor(logging.INFO):
            duration = time.perf_counter() - start_time
            exchange = Exchange(request, client, status, body_bytes, duration, response_headers)
            access_logger.info(line(exchange))  # no args: a '%' in the line stays as it is

    return write


def _json_line(exchange: Exchange) -> str:
    """One JSON object: the keys docs/logging.md lists (request_id only when sent)."""
    request = exchange.request
    client = exchange.client
    fields: dict[bytes, str | None] = {b"user-agent": None, b"referer": None, b"x-request-id": None}
    for name, value in request.headers:
        if name in fields:
            fields[name] = value.decode("latin-1")
    record: dict[str, object] = {
        "time": iso_time(),
        "client": client[0] if client else None,
        "method": request.method.decode("latin-1"),
        "target": request.target.decode("latin-1"),
        "protocol": f"HTTP/{request.http_version}",
        "status": exchange.status,
        "bytes": exchange.body_bytes,
        "duration": round(exchange.duration, 6),
        "user_agent": fields[b"user-agent"],
        "referer": fields[b"referer"],
    }
    if fields[b"x-request-id"] is not None:
        record["request_id"] = fields[b"x-request-id"]
    return json.dumps(record, separators=(",", ":"))


def iso_time() -> str:
    """Now, in ISO 8601 with the local offset, to the millisecond."""
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


# -- gunicorn's atoms -------------------------------------------------------------------


class Exchange:
    """What an atom reads: one exchange, as it ended."""

    __slots__ = ("body_bytes", "client", "duration", "request", "response_headers", "status")

    def __init__(
        self,
        request: Request,
        client: Client,
        status: int,
        body_bytes: int,
        duration: float,
        response_headers: Fields,
    ) -> None:
        self.request = request
        self.client = client
        self.status = status
        self.body_bytes = body_bytes
        self.duration = duration  # seconds
        self.response_headers = response_headers


Atom = Callable[[Exchange], str]


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _request_field(name: bytes) -> Atom:
    def atom(exchange: Exchange) -> str:
        found = b"-"
        for field in exchange.request.headers:
            if field[0] == name:
                found = field[1]
        return _text(found)

    return atom


def _response_field(name: bytes) -> Atom:
    def atom(exchange: Exchange) -> str:
        found = b"-"
        for field in exchange.response_headers:
            if bytes(field[0]).lower() == name:
                found = bytes(field[1])
        return _text(found)

    return atom


def _user(exchange: Exchange) -> str:
    """The user name of HTTP Basic authentication (RFC 7617), or '-'."""
    credentials = _request_field(b"authorization")(exchange)
    scheme, _, token = credentials.partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return decoded.partition(":")[0] or "-"


def _request_line(exchange: Exchange) -> str:
    request = exchange.request
    return f"{_text(request.method)} {_text(request.target)} HTTP/{request.http_version}"


_ATOMS: dict[str, Atom] = {
    "h": lambda x: x.client[0] if x.client else "-",
    "l": lambda x: "-",
    "u": _user,
    "t": lambda x: f"[{clf_time()}]",
    "r": _request_line,
    "m": lambda x: _text(x.request.method),
    "U": lambda x: _text(x.request.path),
    "q": lambda x: _text(x.request.query),
    "H": lambda x: f"HTTP/{x.request.http_version}",
    "s": lambda x: str(x.status),
    "B": lambda x: str(x.body_bytes),
    "b": lambda x: str(x.body_bytes) if x.body_bytes else "-",
    "f": _request_field(b"referer"),
    "a": _request_field(b"user-agent"),
    "T": lambda x: str(int(x.duration)),
    "M": lambda x: str(int(x.duration * 1_000)),
    "D": lambda x: str(int(x.duration * 1_000_000)),
    "L": lambda x: f"{x.duration:.6f}",
    "p": lambda x: f"<{os.getpid()}>",
}
"""gunicorn's atoms, as its docs define them (docs/logging.md lists them, and the two
places Ferry's differ: U is the path as sent, not percent-decoded, and {name}o only sees
the fields the application gave)."""

_TOKEN = re.compile(r"%\((?P<atom>[^()]*)\)s|%%|%")
_FIELD_ATOM = re.compile(r"\{(?P<name>[^{}]+)\}(?P<kind>[ioe])")


def compile_format(format: str) -> Callable[[Exchange], str]:
    """``format`` (gunicorn's ``%(atom)s`` syntax, ``%%`` for a percent sign) as a
    function of an exchange that returns its line. Raises ConfigError naming an unknown
    atom, or a ``%`` that starts no atom."""
    template: list[str] = []
    atoms: list[Atom] = []
    position = 0
    for token in _TOKEN.finditer(format):
        template.append(format[position : token.start()].replace("%", "%%"))
        position = token.end()
        if token.group() == "%%":
            template.append("%%")
            continue
        name = token.group("atom")
        if name is None:
            raise ConfigError(
                f"access log format: a '%' at position {token.start()} starts no atom "
                "(write %(name)s, or %% for a percent sign)"
            )
        atoms.append(_atom(name))
        template.append("%s")
    template.append(format[position:].replace("%", "%%"))
    text = "".join(template)
    getters = tuple(atoms)

    def line(exchange: Exchange) -> str:
        return text % tuple([getter(exchange) for getter in getters])

    return line


def _atom(name: str) -> Atom:
    atom = _ATOMS.get(name)
    if atom is not None:
        return atom
    field = _FIELD_ATOM.fullmatch(name)
    if field is not None and field.group("kind") == "i":
        return _request_field(field.group("name").lower().encode("latin-1"))
    if field is not None and field.group("kind") == "o":
        return _response_field(field.group("name").lower().encode("latin-1"))
    if field is not None:  # {name}e
        raise ConfigError(
            f"access log format: %({name})s: the {{name}}e atoms (gunicorn's WSGI environ) "
            "are not supported; use {name}i for a request field"
        )
    known = " ".join(sorted(_ATOMS, key=str.lower))
    raise ConfigError(
        f"access log format: unknown atom %({name})s (the atoms: {known}, {{header}}i, {{header}}o)"
    )


def check_format(format: str | None) -> None:
    """Raise ConfigError if ``format`` cannot be compiled (for ``Config``'s checks)."""
    access_writer(format)


# -- the file ---------------------------------------------------------------------------


class AccessLogFile(logging.Handler):
    """``--access-log-file``: each record's line, with its newline, in one ``write`` to
    a descriptor opened ``O_APPEND`` (whole among the writes of other processes).
    ``reopen`` opens the path again: after logrotate has renamed the file, the next
    lines go to a new one. Raises ConfigError if the file cannot be opened."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        try:
            self.fd = _open_append(path)
        except OSError as exc:
            raise ConfigError(f"cannot open the access log file {path!r}: {exc.strerror}") from None
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            written = os.write(self.fd, data)
            while written < len(data):  # only short on a full disk, or a signal
                data = data[written:]
                written = os.write(self.fd, data)
        except Exception:
            self.handleError(record)

    def reopen(self, announce: bool = True) -> None:
        """Open the path again and write there from now on (and say so, if
        ``announce``); if it cannot be opened, say why and go on writing to the file
        as it was."""
        try:
            fd = _open_append(self.path)
        except OSError as exc:
            error_logger.error("cannot reopen the access log file %r: %s", self.path, exc)
            return
        with self.lock:  # type: ignore[union-attr]
            old, self.fd = self.fd, fd
        os.close(old)
        if announce:
            error_logger.info("access log file reopened: %s", self.path)

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
        super().close()


def _open_append(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def reopen_access_files(announce: bool = True) -> None:
    """Reopen every ``AccessLogFile`` of ``ferry.access`` (SIGUSR1: it was rotated)."""
    for handler in access_logger.handlers:
        if isinstance(handler, AccessLogFile):
            handler.reopen(announce)
