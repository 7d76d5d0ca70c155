"""How a message's body is delimited, and whether the connection outlives it: the rules
of RFC 9112 §6.3 (message body length) and §9.3 (persistence), for both roles.

The server role applies ``request_body_length`` to each request it receives and
``send_framing`` to each response it sends, the client role ``response_framing`` to
each response it receives; both decide persistence with ``keep_alive``. Each rule is
cited once, here; the renderers (``_render.py``) write the fields that say what was
decided.
"""

from __future__ import annotations

from typing import Final

from . import _abnf
from ._events import Response
from ._fields import bad
from ._limits import Limits

__all__ = [
    "CHUNKED",
    "CLOSE_DELIMITED",
    "Framing",
    "advertises_keep_alive",
    "asks_to_close",
    "connection_options",
    "content_length",
    "keep_alive",
    "request_body_length",
    "response_framing",
    "send_framing",
]

CHUNKED: Final = -1
"""A received body length: the chunked transfer coding delimits the body."""
CLOSE_DELIMITED: Final = -2
"""A received body length: the body ends when the connection closes (responses only)."""


class Framing:
    """How a body Ferry sends is delimited (RFC 9112 §6.3)."""

    NONE: Final = 0  # no body: HEAD, 1xx, 204, 304
    LENGTH: Final = 1  # Content-Length
    CHUNKED: Final = 2  # Transfer-Encoding: chunked
    CLOSE: Final = 3  # read until the connection closes (HTTP/1.0 with unknown length)


# -- persistence -------------------------------------------------------------------------


def connection_options(connection: bytes) -> set[bytes]:
    """The options a received Connection field lists (RFC 9110 §7.6.1), lower-cased."""
    return {option.strip(b" \t").lower() for option in connection.split(b",")}


def keep_alive(version: str, options: set[bytes] | None) -> bool:
    """Whether the sender of a message lets the connection persist after it: ``options``
    from its Connection field (``connection_options``), None without one."""
    # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    if options is None:
        return version == "1.1"
    return b"close" not in options and (version == "1.1" or b"keep-alive" in options)


def advertises_keep_alive(options: set[bytes] | None) -> bool:
    """Whether the response to a request whose Connection field lists ``options`` (None
    without one) carries ``Keep-Alive: timeout=N``, if it leaves the connection open."""
    # RFC 9112 §9.3: HTTP/1.1 persistence needs no field, and Keep-Alive (RFC 2068
    # §19.7.1) is HTTP/1.0's: RFC 7230 Appendix A.1.2 dropped it from the standard, and
    # linters flag it as deprecated. It still helps a client that listed "keep-alive"
    # (HTTP/1.0 keep-alive, or an HTTP/1.1 client such as httpx or Ferry's own, which
    # reads the timeout to retire idle connections before we drop them): only there.
    return options is not None and b"keep-alive" in options


def asks_to_close(connection: bytes) -> bool:
    """Whether a Connection field our caller gives asks to end the connection after this
    message (RFC 9112 §9.6). Read leniently: "close" anywhere in it counts."""
    return b"close" in connection.lower()


# -- body length -------------------------------------------------------------------------


def content_length(values: list[bytes], limits: Limits, *, response: bool = False) -> int:
    """The body length that received Content-Length ``values`` give, within ``limits``.

    Raises RemoteProtocolError: 400 for an invalid value or a repeated field; 413 (in a
    request) for a length over ``max_body_size``.
    """
    # RFC 9110 §8.6: Content-Length = 1*DIGIT. RFC 9112 §6.3 (5): an invalid one is an
    # unrecoverable error, unless it is a list of one valid value repeated, which may be
    # taken as that value; we refuse a list or a repeated field even of equal values.
    if len(values) != 1 or _abnf.digits_re.fullmatch(values[0]) is None:
        raise bad("invalid Content-Length in a response" if response else "invalid Content-Length")
    status = 400 if response else 413
    if len(values[0]) > 18:
        raise bad("Content-Length too large", status)
    length = int(values[0])
    if limits.max_body_size is not None and length > limits.max_body_size:
        message = "response" if response else "request"
        raise bad(message + " body larger than the configured maximum", status)
    return length


def request_body_length(
    lengths: list[bytes], codings: list[bytes], version: str, limits: Limits
) -> int:
    """A request's body length from its Content-Length and Transfer-Encoding values:
    0 for none, or CHUNKED. Raises RemoteProtocolError (400, 413 or 501)."""
    # RFC 9112 §6.3 (6), (7): Content-Length gives the length; without it (or
    # Transfer-Encoding) a request has no body.
    length = content_length(lengths, limits) if lengths else 0
    if codings:
        _transfer_coding(codings, version, bool(lengths), response=False)
        return CHUNKED
    return length


def response_framing(
    response: Response, method: bytes, request_keep_alive: bool, limits: Limits
) -> tuple[int, bool]:
    """(body length, 0 for none, CHUNKED or CLOSE_DELIMITED; whether to reuse the
    connection after this response) for a final response to ``method``, whose request
    let the connection persist if ``request_keep_alive``. Raises RemoteProtocolError.
    """
    lengths, codings, connection = _framing_fields(response)
    version = response.http_version
    persists = request_keep_alive and keep_alive(
        version, None if connection is None else connection_options(connection)
    )
    status = response.status
    # RFC 9112 §6.3 (1): a response to HEAD, and any 1xx, 204 or 304 response, ends with
    # its head, whatever its fields say.
    if method == b"HEAD" or status == 204 or status == 304:
        return 0, persists
    if method == b"CONNECT" and status < 300:
        # RFC 9112 §6.3 (2): a 2xx to CONNECT turns the connection into a tunnel; the
        # bytes after the head are not HTTP any more, so it cannot be reused for HTTP.
        return 0, False
    if codings:
        _transfer_coding(codings, version, bool(lengths), response=True)
        return CHUNKED, persists
    if lengths:
        return content_length(lengths, limits, response=True), persists
    # RFC 9112 §6.3 (8): otherwise the body ends when the server closes the connection.
    return CLOSE_DELIMITED, False


def send_framing(
    status: int, head_request: bool, length: int | None, chunked: bool, http_version: str
) -> int:
    """The ``Framing`` of a final response the server role sends: ``length`` is its body's
    known length (from the application's Content-Length, or its whole body), ``chunked``
    whether the application asked for chunked, ``http_version`` the request's."""
    # RFC 9112 §6.3 (1), from the sender's side: RFC 9110 §15.3.5, §15.4.5: a 204 or 304
    # has no content; §9.3.2: a response to HEAD never carries content.
    if status == 204 or status == 304 or head_request:
        return Framing.NONE
    if length is not None and not chunked:
        return Framing.LENGTH  # RFC 9112 §6.3 (6)
    if http_version == "1.1":
        return Framing.CHUNKED  # RFC 9112 §6.3 (4)
    # RFC 9112 §6.3 (8): HTTP/1.0 has no chunked coding; the close ends the body (and so
    # the connection is not reused).
    return Framing.CLOSE


def _framing_fields(response: Response) -> tuple[list[bytes], list[bytes], bytes | None]:
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connections: list[bytes] = []
    for name, value in response.headers:
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
        elif name == b"connection":
            connections.append(value)
    return lengths, codings, b",".join(connections) if connections else None


def _transfer_coding(
    codings: list[bytes], version: str, has_length: bool, *, response: bool
) -> None:
    """Check received Transfer-Encoding values: only a final chunked is read."""
    message = " in a response" if response else ""
    if has_length:
        # RFC 9112 §6.1: a sender MUST NOT send both; §6.3 (3): Transfer-Encoding
        # overrides Content-Length, and such a message "ought to be handled as an error"
        # (request smuggling, response splitting): we refuse it.
        raise bad("both Transfer-Encoding and Content-Length" + message)
    if version == "1.0":
        # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        raise bad("Transfer-Encoding in an HTTP/1.0 " + ("response" if response else "request"))
    listed = [c.strip(b" \t").lower() for c in b",".join(codings).split(b",")]
    if listed == [b"chunked"]:
        return
    if response:
        # RFC 9112 §6.3 (4) would read a body whose final coding is not chunked until the
        # close, but we decode no other transfer coding (and "identity" is gone from the
        # registry, RFC 9112 §7): such a body cannot be read, so we refuse the response.
        raise bad("unsupported Transfer-Encoding in a response")
    if listed[-1] != b"chunked":
        # RFC 9112 §6.3 (4): chunked must be the final coding of a request, else 400.
        raise bad("chunked is not the final transfer coding")
    if b"chunked" in listed[:-1] or b"" in listed:
        # RFC 9112 §7: chunked MUST NOT be applied more than once.
        raise bad("invalid Transfer-Encoding list")
    # RFC 9112 §6.1: a server that receives a coding it does not understand SHOULD
    # answer 501. We decode no compression codings.
    raise bad("unsupported transfer coding", 501)
