"""A long pipeline of requests whose apps finish without waiting is answered whole and
in order: the apps run one after another in a runner task, never one call deeper per
request."""

from __future__ import annotations

from ferry.asgi import Receive, Scope, Send

from ..support import connect, serving


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_two_thousand_pipelined_requests(loop_name: str) -> None:
    count = 2000
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(count))
    with (
        serving(hello_app, loop_name, max_pipeline_buffer=1 << 20) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(requests)
        received = b""
        while received.count(b"HTTP/1.1 200 OK\r\n") < count:
            chunk = sock.recv(1 << 16)
            assert chunk, f"closed after {received.count(b'HTTP/1.1 200')} responses"
            received += chunk
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in received.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"/%d" % i for i in range(count)]
