"""Render heads (RFC 9112 §3, §4, §6; RFC 9110 §6.6, §7.6) as pure functions: the
server role's response heads and the client role's request heads.

The caller's header fields are validated here: a CR, LF or NUL in a value or a name that
is not a token is a LocalProtocolError (a 500 for a server), never a header injection.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .._errors import LocalProtocolError
from . import _abnf
from ._caches import RenderedHead, ResponseHeadCache
from ._date import date_header
from ._events import Fields, Headers
from ._framing import Framing, asks_to_close, send_framing
from ._status import status_line

__all__ = [
    "RequestShape",
    "ResponseSettings",
    "ResponseShape",
    "render_fields",
    "render_head",
    "render_request_head",
    "validate_fields",
]

# Names joined with NUL after each: every one a token. Values joined with nothing: any
# forbidden byte in any value shows in the whole (RFC 9110 §5.5 field-value).
_names_re = re.compile(rb"(?:" + _abnf.TOKEN + rb"\x00)*")

# Fields Ferry decides itself, or only adds when the application did not.
_SPECIAL = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"date", b"server"}
)


@dataclass(frozen=True, slots=True)
class ResponseSettings:
    """What the server adds to every response. (The heads rendered under a settings
    object are cached apart from it: ``_caches.response_head_cache``.)"""

    server_header: bytes | None = b"ferry"  # None: send no Server field
    # Said as ``Keep-Alive: timeout=N`` to a client that asked for keep-alive (_framing).
    keep_alive_timeout: int | None = 5
    server_line: bytes = field(init=False)
    keep_alive_line: bytes = field(init=False)

    def __post_init__(self) -> None:
        server = b"" if self.server_header is None else b"Server: %s\r\n" % self.server_header
        object.__setattr__(self, "server_line", server)
        timeout = self.keep_alive_timeout
        line = b"" if timeout is None else b"Keep-Alive: timeout=%d\r\n" % timeout
        object.__setattr__(self, "keep_alive_line", line)


ResponseShape = tuple[bytes, int, int, bool]
"""(head bytes, Framing, Content-Length for Framing.LENGTH, keep-alive)."""

RequestShape = tuple[bytes, int, int, bool]
"""(head bytes, Framing, Content-Length for Framing.LENGTH, keep-alive)."""


def validate_fields(headers: Fields) -> None:
    """Raise LocalProtocolError unless every pair is (token, field-value) as bytes."""
    if not headers:
        return
    try:
        names = b"\x00".join([name for name, _ in headers]) + b"\x00"
        values = b"".join([value for _, value in headers])
    except (TypeError, ValueError):
        raise LocalProtocolError(
            "header fields must be (name, value) pairs of bytes: " + repr(headers)[:200]
        ) from None
    if (
        _names_re.fullmatch(names) is None
        or names.count(b"\x00") != len(headers)
        or _abnf.field_value_re.fullmatch(values) is None
    ):
        raise LocalProtocolError(_describe_bad_field(headers))


def _describe_bad_field(headers: Fields) -> str:
    for name, value in headers:
        if _abnf.token_re.fullmatch(name) is None:
            return f"the application sent a header field name that is not a token: {name!r}"
        if _abnf.field_value_re.fullmatch(value) is None:
            return f"the application sent a control character in the value of {name!r}"
    raise AssertionError("unreachable: some field was invalid")  # pragma: no cover


def render_fields(headers: Fields) -> list[bytes]:
    """Validated ``name: value\\r\\n`` lines (for trailers and 1xx responses)."""
    validate_fields(headers)
    return [b"%s: %s\r\n" % (name, value) for name, value in headers]


def _content_length(value: bytes, previous: int | None) -> int:
    value = value.strip(b" \t")
    if _abnf.digits_re.fullmatch(value) is None:
        raise LocalProtocolError("the application sent an invalid Content-Length")
    length = int(value)
    if previous is not None and previous != length:
        raise LocalProtocolError("the application sent conflicting Content-Length fields")
    return length


def render_head(
    status: object,
    headers: Fields,
    settings: ResponseSettings,
    cache: ResponseHeadCache,
    *,
    http_version: str,
    head_request: bool,
    keep_alive: bool,
    advertise_keep_alive: bool,
    body_length: int | None,
) -> ResponseShape:
    """Validate an application's status and fields and render the final response head.

    ``keep_alive`` says whether the connection may stay open after it (the application
    can still close it); ``advertise_keep_alive`` whether the request asked for the
    ``Keep-Alive`` field, written if the connection stays open
    (``_framing.advertises_keep_alive``). ``body_length`` is the whole body's length when
    it is known before the head is sent (the application gave its whole body at once),
    else None.

    Applications send the same few heads again and again, so a head is validated and
    rendered once per distinct input and then taken from ``cache`` (the cache of
    ``settings``: see ``_caches.py``); only the Date line (RFC 9110 §6.6.1, cached per
    second) is put in afresh. Fields given as a tuple of (bytes, bytes) tuples, which
    cannot change, are found by the tuple's identity instead, without hashing each field.
    """
    if type(status) is not int or not 200 <= status <= 599:
        raise LocalProtocolError(f"invalid final response status {status!r}")
    frozen_key = None
    if type(headers) is tuple:
        frozen_key = (
            id(headers),
            status,
            http_version,
            head_request,
            keep_alive,
            advertise_keep_alive,
            body_length,
        )
        found = cache.by_identity.get(frozen_key)
        if found is not None and found[0] is headers:
            return _dated(found[1])
    try:
        # Fields given as lists (or bytearrays) are unhashable: rendered every time.
        key: tuple[object, ...] | None = (
            status,
            http_version,
            head_request,
            keep_alive,
            advertise_keep_alive,
            body_length,
            *headers,
        )
        rendered = cache.by_value.get(key)  # type: ignore[arg-type]
    except TypeError:
        key = rendered = None
    if rendered is None:
        rendered = _render(
            status,
            headers,
            settings,
            http_version,
            head_request,
            keep_alive,
            advertise_keep_alive,
            body_length,
        )
        if key is not None:
            cache.put_value(key, rendered)
    if frozen_key is not None and _immutable(headers):  # type: ignore[arg-type]
        cache.put_identity(frozen_key, headers, rendered)
    return _dated(rendered)


def _immutable(headers: tuple[object, ...]) -> bool:
    """Whether a tuple of fields can never change: every field a tuple of two bytes."""
    return all(
        type(field) is tuple
        and len(field) == 2
        and type(field[0]) is bytes
        and type(field[1]) is bytes
        for field in headers
    )


def _dated(rendered: RenderedHead) -> ResponseShape:
    """The head with today's Date line put in, and its framing."""
    before, dated, after, framing, length, keep_alive = rendered
    return (
        (before + date_header() + after if dated else before + after),
        framing,
        length,
        keep_alive,
    )


def _render(
    status: int,
    headers: Fields,
    settings: ResponseSettings,
    http_version: str,
    head_request: bool,
    keep_alive: bool,
    advertise_keep_alive: bool,
    body_length: int | None,
) -> RenderedHead:
    validate_fields(headers)
    lines = [status_line(status)]
    length: int | None = None
    chunked = has_date = has_server = False
    for name, value in headers:
        lname = name.lower()
        if lname in _SPECIAL:
            if lname == b"content-length":
                length = _content_length(value, length)
                continue
            if lname == b"transfer-encoding":
                chunked = chunked or value.strip().lower() == b"chunked"
                continue
            if lname == b"connection":
                # The application may end the connection (RFC 9112 §9.6); the field
                # itself Ferry writes, from its own decision.
                keep_alive = keep_alive and not asks_to_close(value)
                continue
            if lname == b"keep-alive":
                continue
            if lname == b"date":
                has_date = True
            else:
                has_server = True
        lines.append(b"%s: %s\r\n" % (name, value))
    before = b"".join(lines)
    lines = [] if has_server else [settings.server_line]

    declared = length
    if length is None:
        length = body_length
    framing = send_framing(status, head_request, length, chunked, http_version)
    if status == 204 or status == 304:
        # RFC 9110 §8.6: no Content-Length in a 204; a 304 may carry the
        # representation's Content-Length (but no body).
        if status == 304 and declared is not None:
            lines.append(b"Content-Length: %d\r\n" % declared)
    elif length is not None and not chunked:
        # RFC 9110 §8.6, §9.3.2: a response to HEAD says the length GET's body would have.
        lines.append(b"Content-Length: %d\r\n" % length)
    elif framing == Framing.CHUNKED:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    elif framing == Framing.CLOSE:
        keep_alive = False

    if not keep_alive:
        lines.append(b"Connection: close\r\n\r\n")
    elif http_version == "1.0":
        # RFC 9112 §9.3: an HTTP/1.0 connection persists only if both sides say so. (It
        # persists only if the request listed keep-alive: the Keep-Alive field follows.)
        lines.append(b"Connection: keep-alive\r\n")
        lines.append(settings.keep_alive_line + b"\r\n")
    elif advertise_keep_alive:
        lines.append(settings.keep_alive_line + b"\r\n")
    else:
        lines.append(b"\r\n")
    return before, not has_date, b"".join(lines), framing, length or 0, keep_alive


def render_informational(status: object, headers: Fields) -> bytes:
    """A 1xx response head (RFC 9110 §15.2)."""
    if type(status) is not int or not 100 <= status < 200 or status == 101:
        raise LocalProtocolError(f"invalid informational status {status!r}")
    return b"".join([status_line(status), *render_fields(headers), b"\r\n"])


# -- request heads (client role) ----------------------------------------------------

# RFC 9110 §8.6: a user agent SHOULD send Content-Length when the method defines a
# meaning for content, even 0, and SHOULD NOT when it sends none with another method.
_CONTENT_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})

# RFC 9112 §3.2: origin-form, absolute-form, authority-form or "*": visible ASCII only.
_target_re = re.compile(rb"[\x21-\x7e]+")


def render_request_head(
    method: bytes, target: bytes, headers: Headers, body_length: int | None
) -> RequestShape:
    """Validate and render a request head (RFC 9112 §3), choosing the body framing.

    ``body_length`` is the whole body's length when known before the head is sent, else
    None (chunked, unless ``headers`` carry a Content-Length). Raises LocalProtocolError.
    """
    try:
        # A client sends the same few heads again and again (the same URL, the same
        # fields): validating and rendering one costs more than looking it up.
        return _render_request_cached(method, target, tuple(headers), body_length)
    except TypeError:  # something unhashable among the fields: _render says what
        return _render_request(method, target, headers, body_length)


@functools.lru_cache(maxsize=256)
def _render_request_cached(
    method: bytes, target: bytes, headers: tuple[tuple[bytes, bytes], ...], body_length: int | None
) -> RequestShape:
    return _render_request(method, target, list(headers), body_length)


def _render_request(
    method: bytes, target: bytes, headers: Headers, body_length: int | None
) -> RequestShape:
    if _abnf.token_re.fullmatch(method) is None:
        raise LocalProtocolError(f"the method is not a token: {method!r}")
    if _target_re.fullmatch(target) is None:
        raise LocalProtocolError(f"invalid request target: {target!r}")
    validate_fields(headers)
    hosts = 0
    length: int | None = None
    chunked = False
    keep_alive = True
    for name, value in headers:
        lname = name.lower()
        if lname == b"host":
            hosts += 1
        elif lname == b"content-length":
            if length is not None or _abnf.digits_re.fullmatch(value) is None:
                raise LocalProtocolError("invalid or repeated Content-Length")
            length = int(value)
        elif lname == b"transfer-encoding":
            if value.lower() != b"chunked" or chunked:
                raise LocalProtocolError("only Transfer-Encoding: chunked can be sent")
            chunked = True
        elif lname == b"connection":
            keep_alive = keep_alive and not asks_to_close(value)
    if hosts != 1:
        # RFC 9112 §3.2: a client MUST send exactly one Host field in an HTTP/1.1 request.
        raise LocalProtocolError("a request needs exactly one Host header field")
    if length is not None and chunked:
        # RFC 9112 §6.2: a sender MUST NOT send Content-Length with Transfer-Encoding.
        raise LocalProtocolError("both Content-Length and Transfer-Encoding")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    if length is not None:
        framing = Framing.LENGTH
    elif chunked:
        framing = Framing.CHUNKED
    elif body_length is None:
        lines.append(b"Transfer-Encoding: chunked\r\n")
        framing = Framing.CHUNKED
    else:
        length = body_length
        if body_length or method in _CONTENT_METHODS:
            lines.append(b"Content-Length: %d\r\n" % body_length)
        framing = Framing.LENGTH
    lines.append(b"\r\n")
    return b"".join(lines), framing, length or 0, keep_alive
