"""Call StaticFiles in-process with a hand-made scope and record what it sends."""

from __future__ import annotations

import asyncio
from typing import Any

from ferry.static import StaticFiles


def scope_for(
    path: bytes,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    extensions: dict[str, Any] | None = None,
    query_string: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "root_path": root_path,
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query_string,
        "headers": headers or [],
        "extensions": extensions or {},
    }


def call(app: StaticFiles, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the app on ``scope``; the messages it sent, in order."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent
