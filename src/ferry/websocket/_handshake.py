"""The server side of the opening handshake (RFC 6455 §4.2): checking the request and
building the fields of the 101 that accepts it. Pure functions; no I/O."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import NamedTuple

from websockets.exceptions import InvalidHandshake
from websockets.extensions import Extension
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import build_extension, parse_extension
from websockets.utils import accept_key

from ..http1 import Headers, Request

__all__ = [
    "HandshakeProblem",
    "WebSocketSettings",
    "accept_fields",
    "handshake_problem",
    "is_rfc6455_handshake",
]


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """Per-server WebSocket behaviour."""

    max_size: int = 16 * 1024 * 1024
    """Bytes in one received message (after decompression); past it: close 1009."""
    ping_interval: float | None = 20.0
    """Seconds between keepalive pings; None: send none."""
    ping_timeout: float = 20.0
    """Seconds a ping (or our close frame) waits for its answer before we give up."""
    per_message_deflate: bool = True
    """Accept the permessage-deflate extension (RFC 7692) when the client offers it."""


# websockets' own server defaults: 4 KiB windows and memLevel 5 keep a compressing
# connection near 64 KiB of zlib state instead of ~300 KiB, for a small loss of ratio.
_DEFLATE = ServerPerMessageDeflateFactory(
    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
)


def _field(request: Request, name: bytes) -> list[bytes]:
    return [value for field, value in request.headers if field == name]


def is_rfc6455_handshake(request: Request) -> bool:
    """Whether ``request`` (an upgrade to "websocket") is an RFC 6455 handshake at all.

    Without Sec-WebSocket-Version it is not (an old draft's, such as hixie-76 with its
    Sec-WebSocket-Key1/Key2): the server ignores its Upgrade (RFC 9110 §7.8) and serves
    it as plain HTTP.
    """
    return any(name == b"sec-websocket-version" for name, _ in request.headers)


class HandshakeProblem(NamedTuple):
    """Why an opening handshake fails: the error response's status, text and fields."""

    status: int
    message: str
    headers: Headers


# RFC 6455 §4.2.2: to a version it does not speak, a server answers 426 Upgrade Required
# with the versions it does speak in Sec-WebSocket-Version (RFC 9110 §15.5.22).
_WRONG_VERSION = HandshakeProblem(
    426, "Sec-WebSocket-Version must be 13", [(b"sec-websocket-version", b"13")]
)
_BAD_KEY = HandshakeProblem(400, "invalid Sec-WebSocket-Key", [])


def handshake_problem(request: Request) -> HandshakeProblem | None:
    """Why ``request`` is not a valid WebSocket opening handshake, or None if it is.

    ``request`` is a bodiless HTTP/1.1 GET asking to upgrade to "websocket" (the engine
    checked that much, RFC 6455 §4.2.1 (1)-(4)).
    """
    versions = _field(request, b"sec-websocket-version")
    # RFC 6455 §4.2.1 (6): version 13.
    if versions != [b"13"]:
        return _WRONG_VERSION
    keys = _field(request, b"sec-websocket-key")
    # §4.2.1 (5): a base64-encoded 16-byte value.
    try:
        if len(keys) != 1 or len(binascii.a2b_base64(keys[0], strict_mode=True)) != 16:
            return _BAD_KEY
    except binascii.Error:
        return _BAD_KEY
    return None


def accept_fields(
    request: Request, subprotocol: str | None, settings: WebSocketSettings
) -> tuple[Headers, list[Extension]]:
    """The fields of the 101 (without Connection, which the engine adds) and the
    extensions agreed on (RFC 6455 §4.2.2 (5))."""
    key = _field(request, b"sec-websocket-key")[0]
    headers: Headers = [
        (b"upgrade", b"websocket"),
        (b"sec-websocket-accept", accept_key(key.decode("ascii")).encode("ascii")),
    ]
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    extensions: list[Extension] = []
    offers = _field(request, b"sec-websocket-extensions")
    if offers and settings.per_message_deflate:
        agreed = _agree_deflate(b",".join(offers).decode("latin-1"))
        if agreed is not None:
            headers.append((b"sec-websocket-extensions", agreed[0]))
            extensions.append(agreed[1])
    return headers, extensions


def _agree_deflate(offers: str) -> tuple[bytes, Extension] | None:
    """The response field value and the extension for the first permessage-deflate
    offer we can accept (RFC 7692 §5), or None. A malformed field offers nothing: the
    handshake goes on without compression (RFC 6455 §9.1 lets a server decline)."""
    try:
        parsed = parse_extension(offers)
    except InvalidHandshake:
        return None
    for name, params in parsed:
        if name != _DEFLATE.name:
            continue
        try:
            response, extension = _DEFLATE.process_request_params(params, [])
        except InvalidHandshake:  # NegotiationError: try the client's next offer
            continue
        return build_extension([(name, response)]).encode("latin-1"), extension
    return None
