"""Render response heads (RFC 9112 §4, §6; RFC 9110 §6.6, §7.6) as pure functions.

The application's header fields are validated here: a CR, LF or NUL in a value or a name
that is not a token is a LocalProtocolError (a 500), never a header injection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from .._errors import LocalProtocolError
from . import _abnf
from ._date import date_header
from ._events import Headers
from ._status import status_line

__all__ = ["AppHeaders", "Framing", "ResponseSettings", "ResponseShape", "split_app_headers"]

_names_re = re.compile(rb"(?:" + _abnf.TOKEN + rb"\x00)*")
_values_re = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

# Fields Ferry writes itself: framing and connection management (RFC 9112 §6, §9).
_OWNED = frozenset({b"content-length", b"transfer-encoding", b"connection", b"keep-alive"})


@dataclass(frozen=True, slots=True)
class ResponseSettings:
    """What the server adds to every response."""

    server_header: bytes | None = b"ferry"  # None: send no Server field
    keep_alive_timeout: int | None = 5  # advertised as ``Keep-Alive: timeout=N``


class AppHeaders(NamedTuple):
    """An application's header fields, split into what Ferry writes and what it owns."""

    fields: list[bytes]  # rendered ``name: value\r\n`` lines, in order
    content_length: int | None
    chunked: bool  # the application asked for Transfer-Encoding: chunked
    close: bool  # the application sent Connection: close
    has_date: bool
    has_server: bool


class Framing:
    """How a response body is delimited (RFC 9112 §6.3)."""

    NONE = 0  # no body: HEAD, 1xx, 204, 304
    LENGTH = 1  # Content-Length
    CHUNKED = 2  # Transfer-Encoding: chunked
    CLOSE = 3  # read until the connection closes (HTTP/1.0 with unknown length)


class ResponseShape(NamedTuple):
    head: bytes
    framing: int
    length: int  # for Framing.LENGTH: bytes the body must have
    keep_alive: bool


def split_app_headers(headers: Headers) -> AppHeaders:
    """Validate an application's header fields and pull out the ones Ferry owns."""
    names = b"\x00".join(name for name, _ in headers)
    values = b"".join(value for _, value in headers)
    if (
        _names_re.fullmatch(names + b"\x00" if headers else b"") is None
        or _values_re.fullmatch(values) is None
    ):
        raise LocalProtocolError(_describe_bad_header(headers))
    fields: list[bytes] = []
    content_length: int | None = None
    chunked = close = has_date = has_server = False
    for name, value in headers:
        lname = name.lower()
        if lname in _OWNED:
            if lname == b"content-length":
                content_length = _app_content_length(value, content_length)
            elif lname == b"transfer-encoding":
                chunked = chunked or value.strip().lower() == b"chunked"
            elif lname == b"connection":
                close = close or b"close" in value.lower()
            continue
        if lname == b"date":
            has_date = True
        elif lname == b"server":
            has_server = True
        fields.append(b"%s: %s\r\n" % (name, value))
    return AppHeaders(fields, content_length, chunked, close, has_date, has_server)


def _app_content_length(value: bytes, previous: int | None) -> int:
    value = value.strip(b" \t")
    if _abnf.digits_re.fullmatch(value) is None:
        raise LocalProtocolError("the application sent an invalid Content-Length")
    length = int(value)
    if previous is not None and previous != length:
        raise LocalProtocolError("the application sent conflicting Content-Length fields")
    return length


def _describe_bad_header(headers: Headers) -> str:
    for name, value in headers:
        if _abnf.token_re.fullmatch(name) is None:
            return f"the application sent a header field name that is not a token: {name!r}"
        if _values_re.fullmatch(value) is None:
            return f"the application sent a control character in the value of {name!r}"
    return "the application sent an invalid header field"  # pragma: no cover


def render_head(
    status: int,
    app: AppHeaders,
    settings: ResponseSettings,
    *,
    http_version: str,
    head_request: bool,
    keep_alive: bool,
    body_length: int | None,
) -> ResponseShape:
    """Render a final response head.

    ``body_length`` is the whole body's length when it is known before the head is sent
    (the application gave its whole body at once), else None.
    """
    try:
        line = status_line(status)
    except KeyError:
        raise LocalProtocolError(f"invalid response status {status!r}") from None
    if status < 200:
        raise LocalProtocolError("a final response needs a status of 200 or more")
    parts = [line, *app.fields]
    if not app.has_date:
        parts.append(date_header())
    if not app.has_server and settings.server_header is not None:
        parts.append(b"Server: %s\r\n" % settings.server_header)

    keep_alive = keep_alive and not app.close
    length = app.content_length if app.content_length is not None else body_length
    if status == 204 or status == 304:
        # RFC 9110 §15.3.5, §15.4.5: no content. §8.6: no Content-Length in a 204;
        # a 304 may carry the representation's Content-Length.
        framing = Framing.NONE
        if status == 304 and app.content_length is not None:
            parts.append(b"Content-Length: %d\r\n" % app.content_length)
    elif length is not None and not app.chunked:
        parts.append(b"Content-Length: %d\r\n" % length)
        framing = Framing.NONE if head_request else Framing.LENGTH
    elif head_request:
        framing = Framing.NONE  # RFC 9110 §9.3.2: HEAD never carries content
    elif http_version == "1.1":
        parts.append(b"Transfer-Encoding: chunked\r\n")
        framing = Framing.CHUNKED
    else:
        # RFC 9112 §6.3 (8): HTTP/1.0 has no chunked coding; the close ends the body.
        framing = Framing.CLOSE
        keep_alive = False

    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    else:
        if http_version == "1.0":
            parts.append(b"Connection: keep-alive\r\n")
        if settings.keep_alive_timeout is not None:
            parts.append(b"Keep-Alive: timeout=%d\r\n" % settings.keep_alive_timeout)
    parts.append(b"\r\n")
    return ResponseShape(b"".join(parts), framing, length or 0, keep_alive)


def render_informational(status: int, headers: Headers) -> bytes:
    """A 1xx response head (RFC 9110 §15.2); ``headers`` already validated."""
    if not 100 <= status < 200 or status == 101:
        raise LocalProtocolError(f"invalid informational status {status!r}")
    app = split_app_headers(headers)
    return b"".join([status_line(status), *app.fields, b"\r\n"])
