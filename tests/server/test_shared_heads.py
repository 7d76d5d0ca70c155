"""Identical request heads share one parsed Request, and one scope template: an app that
changes its scope (its header list, or any key) must not change what the next identical
request sees."""

from __future__ import annotations

from ferry.asgi import Receive, Scope, Send

from ..support import connect, serving
from ._helpers import Reader

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"


async def mutating_app(scope: Scope, receive: Receive, send: Send) -> None:
    seen = repr([scope["headers"], scope["method"], scope["path"], scope["state"]]).encode()
    scope["headers"].append((b"x-added", b"by the app"))  # as Starlette's MutableHeaders does
    scope["headers"][0] = (b"host", b"changed")
    scope["path"] = "/changed"  # as a mounting router does
    scope["method"] = "POST"
    scope["state"]["user"] = "someone"
    scope["extensions"]["ferry.exchange"]["keep_alive"] = "changed"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": seen})


def test_a_scope_header_list_changed_by_the_app_is_its_own(loop_name: str) -> None:
    with serving(mutating_app, loop_name) as server:
        bodies = []
        for _ in range(2):  # two connections, two requests each: all four the same head
            with connect(server.port) as sock:
                sock.sendall(REQUEST * 2)
                reader = Reader(sock)
                bodies += [reader.response().partition(b"\r\n\r\n")[2] for _ in range(2)]
    assert bodies == [b"[[(b'host', b'x'), (b'x-a', b'1')], 'GET', '/', {}]"] * 4
