"""The staged close (RFC 9112 §9.6, ``server._linger``): after its last response the
server half-closes, reads and discards what still comes, and closes at the client's EOF
or a bound, so that unread input never turns the close into a reset that destroys the
responses the client has not read yet."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from ferry.asgi import Receive, Scope, Send

from ..support import serving
from ._helpers import FIXED_DATE, error_response, head, on_server_loop

DATE = FIXED_DATE.decode().rstrip()
BODY = b"x" * 16384


async def large(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with BODY (16 KiB), after reading the request."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": BODY})


def ok(body: bytes, *, close: bool = False) -> bytes:
    fields = [DATE, "Server: ferry", f"Content-Length: {len(body)}"]
    if close:
        fields.append("Connection: close")
    return head("HTTP/1.1 200 OK", *fields) + body


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything up to the server's FIN; a reset raises (it is what must not happen)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def until_on_server_loop(server: Any, ready: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``ready()``, looked at on the server's loop once per turn of it."""

    async def wait() -> None:
        # No event tells of it: each turn of the server's loop looks.
        while not ready():  # noqa: ASYNC110
            await asyncio.sleep(0)

    assert server.loop is not None
    asyncio.run_coroutine_threadsafe(asyncio.wait_for(wait(), timeout), server.loop).result()


def lingering(server: Any) -> int:
    return len(server.server.state.lingering.closing)


SERVICE_UNAVAILABLE = error_response(503, "Service Unavailable", "Service Unavailable")


def test_the_over_limit_503_reaches_clients_that_sent_first(loop_name: str) -> None:
    with serving(large, loop_name, max_connections=2) as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in "ab"]
        for sock in held:  # both are served: they are the two allowed
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        for sock in held:
            received = b""
            while len(received) < len(ok(BODY)):
                received += sock.recv(65536)
            assert received == ok(BODY)
        address = ("127.0.0.1", server.port)
        clients = [socket.create_connection(address, timeout=5) for _ in range(50)]
        for sock in clients:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = [read_to_eof(sock) for sock in clients]
        for sock in [*clients, *held]:
            sock.close()
    assert answers == [SERVICE_UNAVAILABLE] * 50


async def small(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with 1 KiB, after reading the request."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": BODY[:1024]})


def test_a_pipeline_past_the_request_limit_gets_every_response_then_eof(loop_name: str) -> None:
    # Three times the limit, each request padded so that the pipeline overflows the
    # server's pipeline buffer: at the limit, most of it is still unread in the kernel.
    # The client reads late, through a small window, so the server's last responses are
    # still in its socket's buffer when it closes; a reset there would destroy them.
    limit = 50
    request = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 4000 + b"\r\n\r\n"
    with serving(small, loop_name, max_requests_per_connection=limit) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        sent: list[BaseException] = []

        def send() -> None:
            try:
                sock.sendall(request * (3 * limit))  # still sending while the server closes
            except OSError as exc:
                sent.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        until_on_server_loop(server, lambda: lingering(server) == 1)  # all answered
        received = read_to_eof(sock)  # only now
        sender.join(10)
        sock.close()
    assert not sender.is_alive()
    assert sent == []  # the server read (and dropped) the requests past its limit
    assert received == ok(BODY[:1024]) * (limit - 1) + ok(BODY[:1024], close=True)


def test_keep_alive_expiry_closes_in_stages(loop_name: str) -> None:
    with serving(large, loop_name, keep_alive_timeout=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            received = b""
            while len(received) < len(ok(BODY)):
                received += sock.recv(65536)
            until_on_server_loop(server, lambda: lingering(server) == 1)  # expired
            for _ in range(16):  # a request crossing the close, and more: dropped
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 65000 + b"\r\n\r\n")
            assert read_to_eof(sock) == b""
    assert received == ok(BODY)


def test_a_lingering_connection_is_not_counted_and_starts_no_request(loop_name: str) -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serving(app, loop_name, max_connections=1) as server:
        first = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        first.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert read_to_eof(first) == ok(b"ok", close=True)
        assert lingering(server) == 1  # the client has neither closed nor stopped sending
        # Bytes after the close are read and dropped: no request starts.
        first.sendall(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        second = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        second.sendall(b"GET /second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert read_to_eof(second) == ok(b"ok", close=True)  # not a 503: one is active
        first.close()
        second.close()
        until_on_server_loop(server, lambda: lingering(server) == 0)  # their EOFs end it
    assert calls == ["/first", "/second"]


def test_errors_close_in_stages_too(loop_name: str) -> None:
    with serving(large, loop_name, max_body_size=10) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            sock.sendall(b"b" * 65536)  # the client uploads on...
            received = read_to_eof(sock)
            for _ in range(16):  # ...also past the response: the server reads and drops it
                sock.sendall(b"b" * 65536)
            sock.shutdown(socket.SHUT_WR)
            until_on_server_loop(server, lambda: lingering(server) == 0)
    detail = "request body larger than the configured maximum"
    assert received == error_response(413, "Content Too Large", detail)


def test_a_peer_sending_past_the_byte_bound_is_cut_off(loop_name: str) -> None:
    with serving(large, loop_name) as server:
        on_server_loop(server, lambda: setattr(server.server.state.lingering, "bytes", 100000))
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_to_eof(sock) == ok(BODY, close=True)
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                send_until_reset(sock)  # 64 MB at most; the bound is 0.1 MB
        until_on_server_loop(server, lambda: lingering(server) == 0)


@pytest.mark.parametrize("bound", ["quiet", "time"])
def test_a_lingering_connection_ends_at_its_time_bounds(loop_name: str, bound: str) -> None:
    with serving(large, loop_name) as server:
        on_server_loop(server, lambda: setattr(server.server.state.lingering, bound, 0.0))
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_to_eof(sock) == ok(BODY, close=True)
            # The client neither closes nor stops: the next tick of the deadlines ends it.
            until_on_server_loop(server, lambda: lingering(server) == 0)


def test_past_the_lingering_limit_a_close_is_immediate(loop_name: str) -> None:
    with serving(large, loop_name) as server:
        on_server_loop(server, lambda: setattr(server.server.state.lingering, "limit", 0))
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_to_eof(sock) == ok(BODY, close=True)
            assert lingering(server) == 0


def test_the_bounds_count_from_when_the_response_has_left(loop_name: str) -> None:
    # A client reading a large response slowly is still being answered: the lingering
    # bounds (here 0) do not cut it while the response waits in the server's buffer.
    body = b"y" * (8 * 1024 * 1024)

    async def huge(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    with serving(huge, loop_name) as server:
        state = server.server.state

        def no_slack() -> None:
            state.lingering.quiet = state.lingering.time = 0.0

        on_server_loop(server, no_slack)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(10)
        with sock:
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            until_on_server_loop(server, lambda: lingering(server) == 1)
            buffered = on_server_loop(
                server,
                lambda: [c.transport.get_write_buffer_size() for c in state.lingering.closing],
            )
            assert buffered[0] > 0  # the client has read nothing yet
            on_server_loop(server, lambda: state.lingering.check_deadlines(state.loop.time()))
            assert read_to_eof(sock) == ok(body, close=True)


def test_shutdown_ends_the_lingering_at_its_grace_period(loop_name: str) -> None:
    with serving(large, loop_name, graceful_timeout=0.2) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_to_eof(sock) == ok(BODY, close=True)
            assert lingering(server) == 1  # the client neither closes nor stops
            server.stop()  # returns: the lingering connection does not hold it
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                send_until_reset(sock)


def send_until_reset(sock: socket.socket) -> None:
    for _ in range(1000):
        sock.sendall(b"z" * 65536)
