"""Build the ASGI HTTP connection scope (ASGI HTTP spec 2.4) for a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from ..http1 import Request

if TYPE_CHECKING:
    from ..server._protocol import HTTPProtocol

__all__ = ["build_scope", "build_websocket_scope"]

_ASGI: Final = {"version": "3.0", "spec_version": "2.4"}


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a request path into text (UTF-8; invalid sequences replaced)."""
    text = raw_path.decode("latin-1")
    return unquote(text) if "%" in text else text


# The extensions every HTTP scope announces. Their (empty) settings dicts are shared by
# all scopes: nothing in ASGI writes to them, and four fewer dicts per request count.
_EXTENSIONS: Final[dict[str, Any]] = {
    "http.response.trailers": {},
    "http.response.early_hint": {},
    "http.response.pathsend": {},
    "http.response.zerocopysend": {},
}


_TEMPLATES_SIZE: Final = 256  # request heads whose scope template is kept (see build_scope)


def build_scope(
    protocol: HTTPProtocol, request: Request, head_start: float, head_end: float
) -> dict[str, Any]:
    """The scope of ``request``; ``head_start``/``head_end`` are perf_counter() times of
    its first byte and of its parsed head (apps use them for Server-Timing).

    A copy of the request's template (``scope_template``) with the rest filled in.
    """
    state = protocol.state
    scope = scope_template(protocol, request).copy()
    conn = protocol.conn
    extensions = _EXTENSIONS.copy()
    extensions["ferry.exchange"] = {
        "requests_on_connection": conn.requests_received,
        "keep_alive": conn.keep_alive,
        "response_head": conn.preview_response_head,
        "head_start": head_start,
        "head_end": head_end,
    }
    scope["server"] = protocol.server
    scope["client"] = protocol.client
    scope["headers"] = request.headers.copy()  # the app's to change; the Request is shared
    scope["state"] = state.lifespan_state.copy()
    scope["extensions"] = extensions
    return scope


def scope_template(protocol: HTTPProtocol, request: Request) -> dict[str, Any]:
    """The keys of ``request``'s scope that depend on the request alone (method, path,
    query, headers...), the others None: shared, and never to be changed.

    The engine hands out the same ``Request`` for the same head bytes (see
    ``Limits.head_cache``), so a template is made once per ``Request``. It holds its
    Request, so that the id it is found by is not reused.
    """
    templates = protocol.state.scope_templates
    known = templates.get(id(request))
    if known is not None and known[0] is request:
        return known[1]
    template = _template(request, protocol.state.config.root_path)
    if len(templates) >= _TEMPLATES_SIZE:
        templates.clear()
    templates[id(request)] = (request, template)
    return template


def _template(request: Request, root_path: str) -> dict[str, Any]:
    """Every key of ``request``'s scope: those that depend on the request alone, and the
    others (None here) in their place, so that filling them in never grows the dict."""
    raw_path = request.path
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": request.http_version,
        "server": None,
        "client": None,
        "scheme": "http",
        "method": request.method.decode("ascii"),
        "root_path": root_path,
        "path": root_path + decode_path(raw_path),
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": request.query,
        "headers": request.headers,  # the Request's own: a scope gets a copy
        "state": None,
        "extensions": None,
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
