"""The limits on a request as a whole (issue 17): the total deadline (``Timeouts.total``)
against servers that trickle, stall and redirect slowly, and ``max_response_size``
against bodies declared too large, endless (chunked, until close) and compressed. Both
clients, over real sockets; every server is bounded in bytes and time."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ferry.client import (
    AsyncClient,
    Client,
    ClientTimeout,
    PoolLimits,
    ResponseTooLarge,
    Timeouts,
    TotalTimeout,
)
from ferry.client._limits import Deadline, declared_length

from ..support import run
from .rawserver import ScriptedServer, read_head, wait_closed

PACE = threading.Event()  # never set: PACE.wait(s) paces a server, it synchronises nothing
SLOW = Timeouts(read=10.0, write=10.0, total=0.6)  # only the total can fire in time
TOTAL_MESSAGE = r"^the request took longer than its total deadline \(Timeouts\.total\) of 0\.6 s$"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
BLOCK = b"x" * 16384
CHUNK = b"4000\r\n" + BLOCK + b"\r\n"


async def collect(pieces: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for piece in pieces:
        into.append(piece)


def trickling_head(sock: socket.socket, index: int) -> None:
    """A status line, then a header field one byte every 0.2 s (for 30 s at most)."""
    read_head(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(150):
        sock.sendall(b"a")
        PACE.wait(0.2)


def trickling_body(sock: socket.socket, index: int) -> None:
    """A head, then the body one byte every 0.2 s (for 30 s at most)."""
    read_head(sock)
    sock.sendall(HEAD)
    for _ in range(150):
        sock.sendall(b"a")
        PACE.wait(0.2)


def stalling(sock: socket.socket, index: int) -> None:
    """A head and 5 bytes of the body, then nothing until the client closes."""
    read_head(sock)
    sock.sendall(HEAD + b"12345")
    wait_closed(sock)


def slow_redirects(sock: socket.socket, index: int) -> None:
    """Each request answered after 0.25 s: a redirect to the next hop (on this
    connection), 10 in a row, then 200."""
    while head := read_head(sock):
        PACE.wait(0.25)
        hop = int(head.split(b" ")[1].strip(b"/") or b"0")
        if hop < 10:
            sock.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: /%d\r\nContent-Length: 0\r\n\r\n" % (hop + 1)
            )
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """The block must end within ``seconds`` (the deadline fired, not a step timeout)."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < seconds


@pytest.mark.parametrize("handler", [trickling_head, trickling_body, stalling, slow_redirects])
def test_the_total_deadline_ends_a_request(handler: Callable[[socket.socket, int], None]) -> None:
    with ScriptedServer(handler) as server, Client(timeouts=SLOW, follow_redirects=True) as client:
        with bounded(3.0), pytest.raises(TotalTimeout, match=TOTAL_MESSAGE):
            client.get(f"http://127.0.0.1:{server.port}/")
        assert client.pool.open_connections == 0  # closed, not pooled


@pytest.mark.parametrize("handler", [trickling_head, trickling_body, stalling, slow_redirects])
def test_the_total_deadline_ends_an_async_request(
    loop_name: str, handler: Callable[[socket.socket, int], None]
) -> None:
    async def main(port: int) -> None:
        async with AsyncClient(timeout=SLOW, follow_redirects=True) as client:
            with bounded(3.0), pytest.raises(TotalTimeout, match=TOTAL_MESSAGE):
                await client.get(f"http://127.0.0.1:{port}/")
            assert client.pool.open_connections == 0

    with ScriptedServer(handler) as server:
        run(loop_name, main(server.port))


def test_without_a_total_the_trickle_outlasts_it() -> None:
    """The same server, the step timeouts only: the request is still going after the
    time the deadline gives (the test that the deadline is what ends the others)."""
    steps = Timeouts(read=10.0, write=10.0)
    with ScriptedServer(trickling_body) as server, Client(timeout=steps) as client:
        started = time.monotonic()
        with client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            for _ in response.iter_bytes():
                if time.monotonic() - started > 1.0:
                    break
            else:
                raise AssertionError("the trickle ended")


def test_a_streamed_body_raises_at_the_deadline() -> None:
    """The deadline is the request's: the caller reading the body piece by piece gets
    the error from the read after it passed, and the connection is closed."""
    with ScriptedServer(trickling_body) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        with client.stream("GET", url, timeout=SLOW) as response:
            assert response.status_code == 200
            received: list[bytes] = []
            with bounded(3.0), pytest.raises(TotalTimeout, match=TOTAL_MESSAGE):
                received.extend(response.iter_bytes())  # (kept up to the error)
            assert b"".join(received).startswith(b"a")
        assert client.pool.open_connections == 0


def test_an_async_streamed_body_raises_at_the_deadline(loop_name: str) -> None:
    async def main(port: int) -> None:
        async with AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/"
            async with client.stream("GET", url, timeout=SLOW) as response:
                received: list[bytes] = []
                with bounded(3.0), pytest.raises(TotalTimeout, match=TOTAL_MESSAGE):
                    await collect(response.iter_bytes(), received)
                assert b"".join(received).startswith(b"a")
            assert client.pool.open_connections == 0

    with ScriptedServer(trickling_body) as server:
        run(loop_name, main(server.port))


def test_a_read_after_the_deadline_raises_though_the_bytes_are_there() -> None:
    """The whole response arrived in time, but the caller read it late: the read once
    the deadline passed raises still (the deadline is the request's, as curl's -m)."""

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        wait_closed(sock)

    with ScriptedServer(handler) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        with client.stream("GET", url, timeout=Timeouts(total=0.2)) as response:
            PACE.wait(0.4)  # the caller's own pace: it is late
            with pytest.raises(TotalTimeout):
                response.read()
        assert client.pool.open_connections == 0
        assert client.get(url, timeout=Timeouts(total=5.0)).content == b"hello"


def test_deadline_limits_are_the_step_or_the_time_left() -> None:
    now = [0.0]
    steps = Timeouts(connect=1.0, read=None, write=3.0, pool=0.5, total=2.0)
    deadline = Deadline(steps, lambda: now[0])
    assert (deadline.connect, deadline.read, deadline.write, deadline.pool) == (1.0, 2.0, 2.0, 0.5)
    assert deadline.total == 2.0
    now[0] = 1.5
    assert (deadline.connect, deadline.read, deadline.write, deadline.pool) == (0.5, 0.5, 0.5, 0.5)
    assert not deadline.expired()
    now[0] = 2.0
    assert deadline.expired()
    with pytest.raises(TotalTimeout):
        _ = deadline.read


def test_the_pool_wait_counts_against_the_deadline() -> None:
    """A request waiting for the only connection, its pool timeout far off: the deadline
    ends it, as TotalTimeout (not PoolTimeout), and the held connection is unharmed."""
    with (
        ScriptedServer(stalling) as server,
        Client(limits=PoolLimits(max_connections=1)) as client,
    ):
        url = f"http://127.0.0.1:{server.port}/"
        with client.stream("GET", url) as held:
            waiting = Timeouts(pool=10.0, total=0.3)
            with bounded(3.0), pytest.raises(TotalTimeout):
                client.get(url, timeout=waiting)
            assert held.status_code == 200
            assert client.pool.open_connections == 1


def test_a_step_timeout_before_the_deadline_is_the_step_s() -> None:
    with ScriptedServer(stalling) as server, Client() as client:
        quick = Timeouts(read=0.1, total=10.0)
        with pytest.raises(ClientTimeout) as raised:
            client.get(f"http://127.0.0.1:{server.port}/", timeout=quick)
        assert type(raised.value).__name__ == "ReadTimeout"


# -- max_response_size -----------------------------------------------------------------


def declaring(length: int) -> Callable[[socket.socket, int], None]:
    """A head declaring ``length`` bytes, and no body byte (a client that read it would
    wait for its read timeout)."""

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length)
        wait_closed(sock)

    return handler


def endless_chunked(sock: socket.socket, index: int) -> None:
    """A chunked body of 16 KiB chunks, 64 MiB in all at most (far more than any limit
    the tests set), then its end."""
    read_head(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(4096):
        sock.sendall(CHUNK)
    sock.sendall(b"0\r\n\r\n")
    wait_closed(sock)


def endless_until_close(sock: socket.socket, index: int) -> None:
    """A body without a length: it ends when the server closes, after 64 MiB at most."""
    read_head(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    for _ in range(4096):
        sock.sendall(BLOCK)


BOMB = gzip.compress(b"\0" * (16 << 20))  # 16 MiB decoded, 16 KiB on the wire


def compressed(sock: socket.socket, index: int) -> None:
    read_head(sock)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    sock.sendall(head % len(BOMB) + BOMB)
    wait_closed(sock)


LIMIT = 1 << 20


@contextmanager
def memory_below(limit: int) -> Iterator[None]:
    """The block allocates at most ``limit`` bytes at its peak (every thread counted)."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, peak


def test_a_declared_length_over_the_limit_raises_before_the_body() -> None:
    with (
        ScriptedServer(declaring(10**12)) as server,
        Client(max_response_size=LIMIT, timeout=Timeouts(read=10.0)) as client,
    ):
        with bounded(2.0), pytest.raises(ResponseTooLarge) as raised:
            client.get(f"http://127.0.0.1:{server.port}/")
        assert str(raised.value) == (
            "the response body (1000000000000 bytes, its Content-Length) is larger than"
            " max_response_size (1048576 bytes)"
        )
        assert (raised.value.limit, raised.value.size) == (LIMIT, 10**12)
        assert client.pool.open_connections == 0


@pytest.mark.parametrize("handler", [endless_chunked, endless_until_close, compressed])
def test_an_endless_body_raises_once_past_the_limit(
    handler: Callable[[socket.socket, int], None],
) -> None:
    with ScriptedServer(handler) as server, Client(max_response_size=LIMIT) as client:
        with memory_below(4 * LIMIT), pytest.raises(ResponseTooLarge) as raised:
            client.get(f"http://127.0.0.1:{server.port}/")
        assert raised.value.limit == LIMIT
        assert LIMIT < raised.value.size <= 2 * LIMIT  # what the transport had buffered, no more
        assert str(raised.value) == (
            f"the response body ({raised.value.size} bytes received so far) is larger"
            " than max_response_size (1048576 bytes)"
        )
        assert client.pool.open_connections == 0


@pytest.mark.parametrize("handler", [endless_chunked, endless_until_close, compressed])
def test_an_endless_body_raises_once_past_the_limit_async(
    loop_name: str, handler: Callable[[socket.socket, int], None]
) -> None:
    async def main(port: int) -> None:
        async with AsyncClient(max_response_size=LIMIT) as client:
            with memory_below(4 * LIMIT), pytest.raises(ResponseTooLarge) as raised:
                await client.get(f"http://127.0.0.1:{port}/")
            assert LIMIT < raised.value.size <= 2 * LIMIT  # a transport buffers several reads
            assert client.pool.open_connections == 0

    with ScriptedServer(handler) as server:
        run(loop_name, main(server.port))


def test_a_streamed_body_raises_once_past_the_limit() -> None:
    with ScriptedServer(endless_chunked) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        with client.stream("GET", url, max_response_size=LIMIT) as response:
            received: list[bytes] = []
            with pytest.raises(ResponseTooLarge):
                received.extend(response.iter_bytes())
            assert 0 < len(b"".join(received)) <= LIMIT
        assert client.pool.open_connections == 0


def test_the_request_s_limit_replaces_the_client_s(loop_name: str) -> None:
    async def main(port: int) -> None:
        async with AsyncClient(max_response_size=10) as client:
            url = f"http://127.0.0.1:{port}/"
            assert len((await client.get(url, max_response_size=None)).content or b"") == 16
            with pytest.raises(ResponseTooLarge):
                await client.get(url)

    def handler(sock: socket.socket, index: int) -> None:
        while read_head(sock):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n" + b"x" * 16)

    with ScriptedServer(handler) as server:
        run(loop_name, main(server.port))


def test_a_body_at_the_limit_is_read_and_its_connection_kept() -> None:
    def handler(sock: socket.socket, index: int) -> None:
        while head := read_head(sock):
            if head.startswith(b"HEAD"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n")
            elif b"/chunked" in head:
                body = b"10\r\n" + b"y" * 16 + b"\r\n0\r\n\r\n"
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n" + b"x" * 16)

    with ScriptedServer(handler) as server, Client(max_response_size=16) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert client.get(url).content == b"x" * 16
        assert client.get(url + "chunked").content == b"y" * 16
        # RFC 9112 §6.3 (1): a response to HEAD has no body, whatever it declares.
        assert client.head(url).headers["content-length"] == "999999"
        assert client.pool.open_connections == 1
        assert server.accepted == 1


@pytest.mark.parametrize(
    ("method", "status", "headers", "expected"),
    [
        (b"GET", 200, [(b"content-length", b"10")], 10),
        (b"GET", 200, [(b"content-length", b"10, 10")], 10),
        (b"HEAD", 200, [(b"content-length", b"10")], None),
        (b"GET", 304, [(b"content-length", b"10")], None),
        (b"GET", 204, [(b"content-length", b"10")], None),
        (b"GET", 200, [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")], None),
        (b"GET", 200, [], None),
    ],
)
def test_declared_length(
    method: bytes, status: int, headers: list[tuple[bytes, bytes]], expected: int | None
) -> None:
    assert declared_length(method, status, headers) == expected


def test_the_limit_and_the_deadline_on_the_in_process_transports() -> None:
    """The limits are the client's: an ASGI app's response is bounded as the network's."""
    from ferry.client import ASGITransport

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(100):
            await send({"type": "http.response.body", "body": b"z" * 1000, "more_body": True})
            await asyncio.sleep(0.05)  # the app's own pace
        await send({"type": "http.response.body", "body": b""})

    with (
        Client(transport=ASGITransport(app), max_response_size=5000) as client,
        pytest.raises(ResponseTooLarge),
    ):
        client.get("http://app/")
    deadline = Timeouts(read=10, total=0.5)
    with (
        Client(transport=ASGITransport(app), timeout=deadline) as client,
        bounded(3.0),
        pytest.raises(TotalTimeout),
    ):
        client.get("http://app/")


def test_the_limit_is_for_the_final_body_not_a_redirect_s() -> None:
    """A redirect's body, which the client reads itself to reuse the connection, and its
    declared length are not the caller's: the limit is on the final response."""

    def handler(sock: socket.socket, index: int) -> None:
        while head := read_head(sock):
            if b" /next " in head:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast")
            else:
                page = b"<a href='/next'>moved</a>" * 20
                redirect = b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: %d\r\n\r\n"
                sock.sendall(redirect % len(page) + page)

    with ScriptedServer(handler) as server, Client(max_response_size=10) as client:
        url = f"http://127.0.0.1:{server.port}/"
        response = client.get(url, follow_redirects=True)
        assert (response.content, len(response.history)) == (b"last", 1)
        assert server.accepted == 1  # the redirect's connection carried the next hop
        with pytest.raises(ResponseTooLarge):
            client.get(url)  # not followed: the redirect is the final response
