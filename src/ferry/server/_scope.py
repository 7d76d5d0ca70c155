"""Build the ASGI HTTP connection scope (ASGI HTTP spec 2.4) for a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..http1 import Request

if TYPE_CHECKING:
    from ._protocol import HTTPProtocol

__all__ = ["build_scope", "build_websocket_scope"]

_ASGI = {"version": "3.0", "spec_version": "2.4"}


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a request path into text (UTF-8; invalid sequences replaced)."""
    text = raw_path.decode("latin-1")
    return unquote(text) if "%" in text else text


def build_scope(
    protocol: HTTPProtocol, request: Request, head_start: float, head_end: float
) -> dict[str, Any]:
    """The scope of ``request``; ``head_start``/``head_end`` are perf_counter() times of
    its first byte and of its parsed head (apps use them for Server-Timing)."""
    state = protocol.state
    root_path = state.config.root_path
    raw_path = request.path
    conn = protocol.conn
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": request.http_version,
        "server": protocol.server,
        "client": protocol.client,
        "scheme": "http",
        "method": request.method.decode("ascii"),
        "root_path": root_path,
        "path": root_path + decode_path(raw_path),
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": request.query,
        "headers": request.headers.copy(),  # the app's to change; the Request is shared
        "state": state.lifespan_state.copy(),
        "extensions": {
            "http.response.trailers": {},
            "http.response.early_hint": {},
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
            "ferry.exchange": {
                "requests_on_connection": conn.requests_received,
                "keep_alive": conn.keep_alive,
                "response_head": conn.preview_response_head,
                "head_start": head_start,
                "head_end": head_end,
            },
        },
    }


def build_websocket_scope(protocol: HTTPProtocol, request: Request) -> dict[str, Any]:
    """The scope of a WebSocket opening handshake (ASGI WebSocket spec 2.4)."""
    state = protocol.state
    root_path = state.config.root_path
    raw_path = request.path
    offered = b",".join(v for n, v in request.headers if n == b"sec-websocket-protocol")
    return {
        "type": "websocket",
        "asgi": _ASGI,
        "http_version": request.http_version,
        "server": protocol.server,
        "client": protocol.client,
        "scheme": "ws",
        "root_path": root_path,
        "path": root_path + decode_path(raw_path),
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": request.query,
        "headers": request.headers.copy(),
        # RFC 6455 §4.1 (10): a comma-separated list, in the client's order of preference.
        "subprotocols": [p.strip() for p in offered.decode("latin-1").split(",") if p.strip()],
        "state": state.lifespan_state.copy(),
        "extensions": {"websocket.http.response": {}},
    }
