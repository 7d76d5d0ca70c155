"""Pipelined responses go out in one write while the pipeline makes progress, never held
back while a later application waits, and always in order."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.asgi import Receive, Scope, Send
from ferry.server._protocol import HTTPProtocol

from ..support import connect, serving
from ._helpers import FIXED_DATE, Gate, Reader, head

REQUEST = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"


def response(path: str) -> bytes:
    body = path.encode()
    return (
        head(
            "HTTP/1.1 200 OK",
            "content-type: text/plain",
            FIXED_DATE.decode().rstrip(),
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


class _CountingTransport:
    """Wraps a server transport, counting the writes the protocol makes."""

    def __init__(self, transport: Any, counts: dict[str, int]) -> None:
        self._transport = transport
        self._counts = counts

    def write(self, data: bytes) -> None:
        self._counts["writes"] += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"writes": 0, "reads": 0}
    made = HTTPProtocol.connection_made
    received = HTTPProtocol.data_received

    def connection_made(self: HTTPProtocol, transport: Any) -> None:
        made(self, transport)
        self.transport = _CountingTransport(transport, counts)  # type: ignore[assignment]

    def data_received(self: HTTPProtocol, data: bytes) -> None:
        counts["reads"] += 1
        received(self, data)

    monkeypatch.setattr(HTTPProtocol, "connection_made", connection_made)
    monkeypatch.setattr(HTTPProtocol, "data_received", data_received)
    return counts


async def echo_path(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_sixteen_pipelined_responses_take_two_writes(
    loop_name: str, counts: dict[str, int]
) -> None:
    # The first response goes out at once; the fifteen after it wait while the pipeline
    # makes progress and then leave together.
    with serving(echo_path, loop_name) as server, connect(server.port) as sock:
        sock.sendall(b"".join(REQUEST % i for i in range(16)))
        reader = Reader(sock)
        received = [reader.response() for _ in range(16)]
    assert received == [response(f"/{i}") for i in range(16)]
    assert counts["writes"] <= 2 * counts["reads"]


def test_a_held_response_is_not_kept_back_while_a_later_app_waits(loop_name: str) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/3":
            await gate.wait()  # opened only once the responses before it have arrived
        await echo_path(scope, receive, send)

    with serving(app, loop_name) as server, gate, connect(server.port) as sock:
        sock.sendall(b"".join(REQUEST % i for i in range(5)))
        reader = Reader(sock)
        assert [reader.response() for _ in range(3)] == [response(f"/{i}") for i in range(3)]
        gate.open()
        assert [reader.response() for _ in range(2)] == [response("/3"), response("/4")]


def test_the_last_pipelined_response_before_a_close_is_written(loop_name: str) -> None:
    # Connection: close on the last request: the batch is flushed before the close.
    last = b"GET /9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with serving(echo_path, loop_name) as server, connect(server.port) as sock:
        sock.sendall(b"".join(REQUEST % i for i in range(9)) + last)
        data = Reader(sock).to_close()
    closing = response("/9").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    assert data == b"".join(response(f"/{i}") for i in range(9)) + closing
