"""A client that closes after its request: an app waiting in receive() learns of it."""

from __future__ import annotations

import socket
import threading

from ferry.asgi import Receive, Scope, Send

from ..support import connect, serving
from ._helpers import FIXED_DATE, Reader


def test_app_listening_for_disconnect_hears_the_client_close(loop_name: str) -> None:
    heard = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        first = await receive()
        assert first == {"type": "http.request", "body": b"", "more_body": False}
        if (await receive())["type"] == "http.disconnect":
            heard.set()

    with serving(app, loop_name) as server, connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        Reader(sock).until(b"first\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert heard.wait(5), "the app never heard the client go away"


def test_a_half_closed_client_still_gets_the_whole_response(loop_name: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["more_body"] is False
        assert (await receive())["type"] == "http.disconnect"
        # The client closed only its sending side: the response still reaches it.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    with serving(app, loop_name) as server, connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert Reader(sock).to_close() == (
            b"HTTP/1.1 200 OK\r\n" + FIXED_DATE + b"Server: ferry\r\nContent-Length: 4\r\n\r\nlate"
        )
