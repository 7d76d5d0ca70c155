"""WebSocket (RFC 6455) over an HTTP/1.1 Upgrade, for ASGI applications.

The framing is the sans-IO frame layer of the ``websockets`` package (the optional extra
``ferry[ws]``); the HTTP/1.1 handshake is Ferry's own engine
(``ServerConnection.send_switching_protocols``), which the server's protocol drives for
the session (``WebSocketChannel``). The server imports this package only when
``websockets`` is installed: without it an Upgrade request is served as plain HTTP. See
docs/websocket.md.
"""

from __future__ import annotations

from ._handshake import WebSocketSettings, handshake_problem, is_rfc6455_handshake
from ._session import WebSocketChannel, WebSocketSession

__all__ = [
    "WebSocketChannel",
    "WebSocketSession",
    "WebSocketSettings",
    "handshake_problem",
    "is_rfc6455_handshake",
]
