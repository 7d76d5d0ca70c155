"""A long pipeline of requests whose app finishes synchronously (as with Python 3.12's
eager tasks) must not nest one call deeper per request."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from ferry.asgi import Receive, Scope, Send
from ferry.server._state import ServerState

from ..support import connect, serving


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def _run_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """Drive a coroutine that never waits to its end, now: an eager task on Python 3.11."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        coro.send(None)
    except StopIteration:
        future.set_result(None)
    else:  # pragma: no cover - the app below never waits
        raise AssertionError("the app waited")
    return future


def test_two_thousand_pipelined_requests_with_eager_apps(loop_name: str, monkeypatch: Any) -> None:
    original_init = ServerState.__init__

    def eager_init(self: ServerState, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._create_task = _run_eagerly

    monkeypatch.setattr(ServerState, "__init__", eager_init)
    count = 2000
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with (
        serving(hello_app, loop_name, max_pipeline_buffer=1 << 20) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(request * count)
        received = b""
        while received.count(b"HTTP/1.1 200 OK\r\n") < count:
            chunk = sock.recv(1 << 16)
            assert chunk, f"closed after {received.count(b'HTTP/1.1 200')} responses"
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK\r\n") == count
