"""The applications the servers under test run: pure ASGI 3 and WSGI, no framework.

`hello` answers every HTTP request with `200 OK` and the 13-byte `text/plain` body
`Hello, world!`, and completes the lifespan protocol so that no server logs a
"lifespan unsupported" warning or falls back to a slower path. `wsgi_hello` is the same
as a WSGI (PEP 3333) application, for the `wsgi` scenario. `ws_echo` (the `websocket`
scenario) accepts every WebSocket and sends each message back as it came; over HTTP it
answers like `hello`, so the harness's readiness check works unchanged.
"""

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
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


def wsgi_hello(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    """Serve `Hello, world!` as a WSGI application."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [BODY]


async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo every WebSocket message; serve `Hello, world!` over HTTP."""
    if scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.receive":
                if message.get("text") is not None:
                    await send({"type": "websocket.send", "text": message["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": message.get("bytes")})
            else:  # websocket.disconnect
                return
    else:
        await hello(scope, receive, send)


async def _run_lifespan(receive: Receive, send: Send) -> None:
    """Answer `lifespan.startup` and `lifespan.shutdown`; return after shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
