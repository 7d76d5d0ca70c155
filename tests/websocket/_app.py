"""The ASGI app the WebSocket tests talk to; what it saw is recorded in ``Seen``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

from ferry.asgi import Receive, Scope, Send

# --dump-dom dumps the page at its load event, which waits for the iframe: the app
# answers /hold once the WebSocket has closed, which the page does after writing the echo
# into the DOM.
PAGE = b"""<!doctype html><html><body><p id="out">waiting</p><script>
const ws = new WebSocket("ws://" + location.host + "/echo");
ws.onopen = () => ws.send("from chromium");
ws.onmessage = (e) => {
  document.getElementById("out").textContent = "echo:" + e.data;
  ws.close(1000);
};
ws.onerror = () => { document.getElementById("out").textContent = "error"; };
</script><iframe src="/hold"></iframe></body></html>"""


class Seen:
    """What the app saw: the disconnect messages, and an event set on each."""

    def __init__(self) -> None:
        self.disconnects: list[dict[str, Any]] = []
        self.disconnected = threading.Event()
        self.errors: list[BaseException] = []
        self.closed = asyncio.Event()  # the same, on the server's loop (bound at first use)

    def record(self, message: dict[str, Any]) -> None:
        self.disconnects.append(message)
        self.disconnected.set()
        self.closed.set()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


def make_app(seen: Seen) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/hold":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.closed.wait(), 20)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})
            return
        if scope["type"] == "http":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/html")],
                }
            )
            await send({"type": "http.response.body", "body": PAGE})
            return
        assert await receive() == {"type": "websocket.connect"}
        path = scope["path"]
        if path == "/deny":
            start = {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain")],
            }
            await send(start)
            await send({"type": "websocket.http.response.body", "body": b"no", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"pe"})
            return
        if path == "/reject":
            await send({"type": "websocket.close"})
            return
        if path == "/fail":
            raise RuntimeError("before accept")
        if path == "/return":
            return
        if path == "/send-first":
            await send({"type": "websocket.send", "text": "too early"})
        if path == "/start-only":
            await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
            return
        offered = scope["subprotocols"]
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": "chat" if "chat" in offered else None,
                "headers": [(b"x-ferry", b"yes")],
            }
        )
        await _echo(scope, receive, send, seen)

    return app


async def _echo(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            seen.record(message)
            return
        text = message.get("text")
        if text == "scope":
            summary = {k: scope[k] for k in ("type", "scheme", "path", "subprotocols")}
            summary["query_string"] = scope["query_string"].decode()
            summary["raw_path"] = scope["raw_path"].decode()
            summary["extensions"] = scope["extensions"]
            await send({"type": "websocket.send", "text": json.dumps(summary)})
        elif text is not None and text.startswith("close:"):
            _, code, reason = text.split(":", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
        elif text == "raise":
            raise RuntimeError("after accept")
        elif text == "return":
            return
        elif text == "send-after-close":
            await send({"type": "websocket.close", "code": 4002})
            await send({"type": "websocket.close"})  # closing already: ignored
            try:
                await send({"type": "websocket.send", "text": "late"})
            except OSError as exc:  # ferry.ClientDisconnected
                seen.errors.append(exc)
        elif text == "both":
            await send({"type": "websocket.send", "text": "a", "bytes": b"b"})
        elif text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
