"""What ``StaticFiles`` reads of an ASGI HTTP scope: the raw path, the header fields it
uses, the Server-Timing inputs; ``Request`` holds them for the full route."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # only: ferry.asgi imports ferry.static (see tests/static/test_imports.py)
    from ..asgi import Scope

__all__ = ["Request", "raw_path", "request_headers", "server_timing"]

# Request header fields the handler reads; the others are not even decoded.
_WANTED = frozenset(
    {
        b"accept",
        b"accept-encoding",
        b"if-match",
        b"if-modified-since",
        b"if-none-match",
        b"if-range",
        b"if-unmodified-since",
        b"range",
    }
)


def request_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The wanted header fields, names lower-cased, repeated fields comma-joined."""
    headers: dict[str, str] = {}
    for name, value in raw:
        name = name.lower()
        if name in _WANTED:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def raw_path(scope: Scope) -> bytes:
    """The request path as sent, without the mount point (``root_path``) if it has one."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        raw = quote(scope["path"]).encode("ascii")
    root_path: str = scope.get("root_path", "")
    if root_path:
        for prefix in (root_path.encode("utf-8"), quote(root_path).encode("ascii")):
            if raw.startswith(prefix):
                return raw[len(prefix) :]
    return raw


def server_timing(extensions: dict[str, Any]) -> bytes | None:
    """``Server-Timing`` from the server's ``ferry.exchange`` extension, if it gives the
    head's timestamps: time to read the head, and from then to the response's start.

    Only HTML pages (files and listings) get it: Navigation Timing shows it next to the
    browser's own phases. Other responses go without, so the head of a file's response
    is the same every time and the server can reuse its rendering."""
    exchange = extensions.get("ferry.exchange")
    if not isinstance(exchange, dict):
        return None
    head_start, head_end = exchange.get("head_start"), exchange.get("head_end")
    if not isinstance(head_start, float) or not isinstance(head_end, float):
        return None
    now = time.perf_counter()
    head_ms, handler_ms = (head_end - head_start) * 1000, (now - head_end) * 1000
    return f"head;dur={head_ms:.3f}, handler;dur={handler_ms:.3f}".encode()


@dataclass(frozen=True, slots=True)
class Request:
    """What the full route reads of an ASGI HTTP request (see ``StaticFiles``)."""

    method: str
    raw_path: bytes  # without the root_path (see raw_path)
    headers: dict[str, str]  # the wanted fields only (see request_headers)
    query_string: bytes
    root_path: str
