"""Build the ASGI connection scopes (ASGI HTTP and WebSocket specs 2.4) of a request,
from plain values: the parsed request, the connection's addresses, the server's root
path and scheme. The one cache here, ``ScopeTemplates``, says what it keeps and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from ..http1 import Fields, Request

__all__ = ["ScopeTemplates", "build_scope", "build_websocket_scope"]

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


_TEMPLATES_SIZE: Final = 256  # request heads whose scope template is kept


def build_scope(
    template: dict[str, Any],
    request: Request,
    client: tuple[str, int] | None,
    server: tuple[Any, ...] | None,
    lifespan_state: dict[str, Any],
    requests_on_connection: int,
    keep_alive: bool,
    response_head: Callable[[object, Fields], bytes],
    head_start: float,
    head_end: float,
) -> dict[str, Any]:
    """The scope of ``request``: a copy of its ``template`` (``ScopeTemplates.get``) with
    the rest filled in from plain values: the connection's ``client`` and ``server``
    addresses, a copy of the app's ``lifespan_state``, and Ferry's ``ferry.exchange``
    extension (the request's number on its connection, whether the connection is to be
    kept alive, a preview of the response head, and the perf_counter() times of the
    head's first byte and of its parsing, which apps use for Server-Timing).
    """
    scope = template.copy()
    extensions = _EXTENSIONS.copy()
    extensions["ferry.exchange"] = {
        "requests_on_connection": requests_on_connection,
        "keep_alive": keep_alive,
        "response_head": response_head,
        "head_start": head_start,
        "head_end": head_end,
    }
    scope["server"] = server
    scope["client"] = client
    scope["headers"] = request.headers.copy()  # the app's to change; the Request is shared
    scope["state"] = lifespan_state.copy()
    scope["extensions"] = extensions
    return scope


class ScopeTemplates:
    """The cache of scope templates: for a parsed request, the keys of its HTTP scope
    that depend on the request alone (method, path, query, headers...), the others None.

    - **What**: one template per ``Request``, shared by every scope made from it (a
      scope is a copy, see ``build_scope``) and by ``ferry_respond_now`` hooks, which get
      the template itself: nobody may change one.
    - **Keyed by**: ``id(request)``. That finds it again because the engine hands out the
      same ``Request`` object for the same head bytes (its head cache,
      ``ferry.http1._caches.RequestHeadCache``). Each entry holds its ``Request``, so
      that the id is not reused by another object while the entry lives; the entry is
      checked to be that very Request.
    - **Bounded**: at most 256 entries; when full, the cache is emptied and refilled.
    - **Why it is safe**: a ``Request`` never changes after parsing, the template is
      never written to, and the values it takes from elsewhere (``root_path``,
      ``scheme``) are fixed for the server's life.
    """

    __slots__ = ("_root_path", "_scheme", "_templates")

    def __init__(self, root_path: str, scheme: str = "http") -> None:
        self._root_path = root_path
        self._scheme = scheme
        self._templates: dict[int, tuple[Request, dict[str, Any]]] = {}

    def get(self, request: Request) -> dict[str, Any]:
        """The template of ``request``'s scope (made now if it is not kept)."""
        templates = self._templates
        known = templates.get(id(request))
        if known is not None and known[0] is request:
            return known[1]
        template = _template(request, self._root_path, self._scheme)
        if len(templates) >= _TEMPLATES_SIZE:
            templates.clear()
        templates[id(request)] = (request, template)
        return template


def _template(request: Request, root_path: str, scheme: str) -> dict[str, Any]:
    """Every key of ``request``'s scope: those that depend on the request alone, and the
    others (None here) in their place, so that filling them in never grows the dict."""
    raw_path = request.path
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": request.http_version,
        "server": None,
        "client": None,
        "scheme": scheme,
        "method": request.method.decode("ascii"),
        "root_path": root_path,
        "path": root_path + decode_path(raw_path),
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": request.query,
        "headers": request.headers,  # the Request's own: a scope gets a copy
        "state": None,
        "extensions": None,
    }


def build_websocket_scope(
    request: Request,
    client: tuple[str, int] | None,
    server: tuple[Any, ...] | None,
    root_path: str,
    lifespan_state: dict[str, Any],
    scheme: str = "ws",
) -> dict[str, Any]:
    """The scope of a WebSocket opening handshake (ASGI WebSocket spec 2.4), from the
    request, the connection's addresses, the server's root path and the app's state."""
    raw_path = request.path
    offered = b",".join(v for n, v in request.headers if n == b"sec-websocket-protocol")
    return {
        "type": "websocket",
        "asgi": _ASGI,
        "http_version": request.http_version,
        "server": server,
        "client": client,
        "scheme": scheme,
        "root_path": root_path,
        "path": root_path + decode_path(raw_path),
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": request.query,
        "headers": request.headers.copy(),
        # RFC 6455 §4.1 (10): a comma-separated list, in the client's order of preference.
        "subprotocols": [p.strip() for p in offered.decode("latin-1").split(",") if p.strip()],
        "state": lifespan_state.copy(),
        "extensions": {"websocket.http.response": {}},
    }
