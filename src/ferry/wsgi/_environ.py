"""The PEP 3333 ``environ`` of one request, from its ASGI HTTP scope."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote_to_bytes

from ..asgi._types import Scope

__all__ = ["build_environ"]

# Header field name -> environ key ("" for a name that is dropped). Clients choose the
# names, so the cache is bounded: past its size, new names are translated each time.
_KEYS: dict[bytes, str] = {}
_KEYS_MAX = 512


def build_environ(scope: Scope, body: Any) -> dict[str, Any]:
    """The environ for ``scope``, reading the request body from ``body`` (wsgi.input).

    Text values are "bytes as Latin-1 text", as PEP 3333 says native strings are.
    """
    root_path: str = scope.get("root_path", "")
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1") if root_path else "",
        "PATH_INFO": _path_info(scope, root_path),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if environ["wsgi.url_scheme"] == "https":
        environ["HTTPS"] = "on"  # CGI's variable, which WSGI frameworks read too
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    _add_header_variables(environ, scope.get("headers", ()))
    return environ


def _path_info(scope: Scope, root_path: str) -> str:
    """The percent-decoded path below ``root_path``, as Latin-1 text of its bytes."""
    raw_path: bytes | None = scope.get("raw_path")
    path: bytes
    if raw_path is None:
        path = scope["path"].encode("utf-8")
    elif b"%" in raw_path:
        path = unquote_to_bytes(raw_path)
    else:
        path = raw_path
    if root_path:
        prefix = root_path.encode("utf-8")
        if path == prefix or path.startswith(prefix + b"/"):
            path = path[len(prefix) :]
    return path.decode("latin-1")


def _add_header_variables(environ: dict[str, Any], headers: Any) -> None:
    """HTTP_* variables, and CONTENT_TYPE/CONTENT_LENGTH without the prefix.

    Repeated fields are joined with ", " (RFC 9110 §5.3: the same meaning as one field
    with the values as a list), Cookie with "; " (RFC 6265 §5.4). A field name with an
    underscore is dropped: "X_User" and "X-User" would both become HTTP_X_USER, and a
    client could pass its own value for a header a proxy in front of us sets.
    """
    keys = _KEYS
    for raw_name, raw_value in headers:
        key = keys.get(raw_name)
        if key is None:
            key = _key(raw_name)
            if len(keys) < _KEYS_MAX:
                keys[raw_name] = key
        if not key:
            continue
        value = raw_value.decode("latin-1")
        if key in environ:
            separator = "; " if key == "HTTP_COOKIE" else ", "
            value = environ[key] + separator + value
        environ[key] = value


def _key(raw_name: bytes) -> str:
    """The environ key of a header field name, or "" if the field is dropped."""
    if b"_" in raw_name:
        return ""
    name = raw_name.decode("latin-1").upper().replace("-", "_")
    return name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
