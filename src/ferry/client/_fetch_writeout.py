"""``ferry fetch -w FORMAT``: curl's ``--write-out``, with the variables for what Ferry
measures.

``%{name}`` is a variable (``VARIABLES`` below), ``%header{name}`` a response header
field, ``%{stdout}`` and ``%{stderr}`` switch where the rest goes, ``%%`` is ``%``; the
escapes ``\\n``, ``\\r`` and ``\\t`` are decoded (any other backslash is kept). An
unknown variable prints curl's warning on stderr and nothing in the output. Times are in
seconds from the start, with six decimals, as curl prints them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

__all__ = ["VARIABLES", "Transfer", "write_out"]


@dataclass
class Transfer:
    """What ``-w`` reports about one transfer (the final response, after redirects)."""

    url: str
    """The URL as given."""
    method: str = "GET"
    url_effective: str = ""
    status: int = 0
    http_version: str = ""
    headers: Callable[[str], str | None] = lambda name: None
    """The final response's field ``name`` (any case), or None."""
    times: dict[str, float] = field(default_factory=dict)
    """Seconds from the start to the end of each step (``dns``, ``connect``, ...)."""
    total: float = 0.0
    size_download: int = 0
    size_expected: int | None = None
    """The body's Content-Length, if it has one."""
    size_upload: int = 0
    size_header: int = 0
    size_request: int = 0
    num_connects: int = 0
    num_redirects: int = 0
    redirect_url: str = ""
    exitcode: int = 0
    errormsg: str = ""
    filename: str = ""


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def _step(*names: str) -> Callable[[Transfer], str]:
    """The time of the first of ``names`` the transfer went through, else 0 (a reused
    connection has no DNS lookup or connect, as in curl)."""

    def time(transfer: Transfer) -> str:
        found = next((transfer.times[n] for n in names if n in transfer.times), 0.0)
        return _seconds(found)

    return time


def _speed(size: Callable[[Transfer], int]) -> Callable[[Transfer], str]:
    def speed(transfer: Transfer) -> str:
        return str(int(size(transfer) / transfer.total)) if transfer.total > 0 else "0"

    return speed


def _scheme(transfer: Transfer) -> str:
    scheme = (transfer.url_effective or transfer.url).partition("://")[0]
    return scheme.upper() if "://" in (transfer.url_effective or transfer.url) else ""


VARIABLES: dict[str, Callable[[Transfer], str]] = {
    "content_type": lambda t: t.headers("content-type") or "",
    "errormsg": lambda t: t.errormsg,
    "exitcode": lambda t: str(t.exitcode),
    "filename_effective": lambda t: t.filename,
    "http_code": lambda t: f"{t.status:03d}",
    "http_version": lambda t: t.http_version,
    "method": lambda t: t.method,
    "num_connects": lambda t: str(t.num_connects),
    "num_redirects": lambda t: str(t.num_redirects),
    "redirect_url": lambda t: t.redirect_url,
    "response_code": lambda t: f"{t.status:03d}",
    "scheme": _scheme,
    "size_download": lambda t: str(t.size_download),
    "size_header": lambda t: str(t.size_header),
    "size_request": lambda t: str(t.size_request),
    "size_upload": lambda t: str(t.size_upload),
    "speed_download": _speed(lambda t: t.size_download),
    "speed_upload": _speed(lambda t: t.size_upload),
    "time_appconnect": _step("tls"),
    "time_connect": _step("connect"),
    "time_namelookup": _step("dns"),
    "time_pretransfer": _step("request_sent", "head_sent"),
    "time_redirect": _step("redirect"),
    "time_starttransfer": _step("first_byte"),
    "time_total": lambda t: _seconds(t.total),
    "url": lambda t: t.url,
    "url_effective": lambda t: t.url_effective or t.url,
}

_TOKEN = re.compile(r"%%|%\{([^}]*)\}|%header\{([^}]*)\}|\\([nrt])")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def write_out(format: str, transfer: Transfer, stdout: IO[str], stderr: IO[str]) -> None:
    """Write ``format`` with the transfer's values to ``stdout`` (``%{stderr}`` switches
    to ``stderr``, ``%{stdout}`` back)."""
    out = stdout
    position = 0
    for match in _TOKEN.finditer(format):
        out.write(format[position : match.start()])
        position = match.end()
        token, variable, header, escape = match.group(0), *match.groups()
        if token == "%%":
            out.write("%")
        elif escape is not None:
            out.write(_ESCAPES[escape])
        elif header is not None:
            out.write(transfer.headers(header) or "")
        elif variable in ("stdout", "stderr"):
            out = stdout if variable == "stdout" else stderr
        elif variable in VARIABLES:
            out.write(VARIABLES[variable](transfer))
        else:
            stderr.write(f"ferry fetch: unknown --write-out variable: {variable!r}\n")
    out.write(format[position:])
