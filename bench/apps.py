"""The application every server under test runs: pure ASGI 3, no framework.

`hello` answers every HTTP request with `200 OK` and the 13-byte `text/plain` body
`Hello, world!`, and completes the lifespan protocol so that no server logs a
"lifespan unsupported" warning or falls back to a slower path.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve `Hello, world!` over HTTP; acknowledge lifespan startup and shutdown."""
    if scope["type"] == "http":
        # Fresh message dicts per request, as an ordinary application would send them.
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif scope["type"] == "lifespan":
        await _run_lifespan(receive, send)


async def _run_lifespan(receive: Receive, send: Send) -> None:
    """Answer `lifespan.startup` and `lifespan.shutdown`; return after shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
