"""``--proxy-protocol``: the PROXY header a balancer opens each connection with (HAProxy
``send-proxy``/``send-proxy-v2``), read before any HTTP byte.

``ProxyHeaderReader`` takes a connection's bytes until its header is whole (it stands in
``HTTPProtocol.upgraded``, where the bytes go instead of the HTTP engine, so that
connections without the option pay nothing). It then hands the rest to HTTP with the
client and server the header names. A malformed header, or none, closes the connection
without a response (the specification's "must be discarded and cause the receiver to
abort the connection"); one that does not come in time is closed by the head timeout.
Only peers of ``--forwarded-allow-ips`` may send one: from anyone else the connection is
closed at once, before a byte is read. Once a header names the client, that client is the
peer whose ``X-Forwarded-*`` fields are believed or not (a balancer passing the client's
bytes on unread leaves the client's own fields in them).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..proxy import ProxyHeaderError, parse_proxy_header

if TYPE_CHECKING:
    from ._protocol import HTTPProtocol

__all__ = ["ProxyHeaderReader"]

logger = logging.getLogger("ferry.error")


class ProxyHeaderReader:
    """The bytes of one connection until its PROXY header is whole."""

    __slots__ = ("_buffer", "_protocol", "then")

    def __init__(self, protocol: HTTPProtocol) -> None:
        self._protocol = protocol
        self._buffer = b""
        # Where the bytes after the header go: HTTP, or, on a TLS port, the TLS layer
        # (the header comes in clear before the handshake, see _tls_connection).
        self.then: Callable[[bytes], None] = self._to_http

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        self._buffer += data
        try:
            header = parse_proxy_header(self._buffer)
        except ProxyHeaderError as exc:
            logger.debug("connection from %s closed: %s", _peer(protocol), exc)
            protocol.transport.abort()
            return
        if header is None:
            return
        rest = self._buffer[header.length :]
        self._buffer = b""
        protocol.upgraded = None  # from here on, HTTP
        if header.client is not None:
            host, port = header.client
            protocol.client = (sys.intern(host), port)
            protocol.server = header.server
            # The fields in the stream were written by the client the header names, or
            # passed on from it: believed only if that client is itself trusted.
            protocol.forwarding = protocol.state.trusts_peer(protocol.client)
        self.then(rest)

    def _to_http(self, rest: bytes) -> None:
        if rest:
            self._protocol.data_received(rest)

    def eof_received(self) -> None:
        self._protocol.transport.close()  # gone before its header was whole

    def connection_lost(self) -> None:
        self._buffer = b""

    def shutdown(self) -> None:
        self._protocol.transport.close()  # no request has begun


def _peer(protocol: HTTPProtocol) -> str:
    client = protocol.client
    return f"{client[0]}:{client[1]}" if client else "a UNIX socket"
