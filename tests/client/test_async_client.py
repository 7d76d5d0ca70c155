"""What only the async client does: concurrent requests on one pool, waiting for a slot,
cancellation in the middle of a body. Every test runs on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ferry import RemoteProtocolError
from ferry.client import (
    AsyncClient,
    ClientClosed,
    NetworkError,
    PoolLimits,
    PoolTimeout,
    ReadTimeout,
    Timeouts,
)

from ..support import echo_app, run, serving
from .rawserver import ScriptedServer, read_head, wait_closed


def test_concurrent_requests_share_the_pool(loop_name: str) -> None:
    async def main(port: int) -> None:
        url = f"http://127.0.0.1:{port}/"
        async with AsyncClient(limits=PoolLimits(max_per_host=4)) as client:
            bodies = [client.post(url, body=b"%d" % i) for i in range(20)]
            responses = await asyncio.gather(*bodies)
            assert [json.loads(r.content or b"")["body"] for r in responses] == [
                str(i) for i in range(20)
            ]
            assert client.pool.open_connections <= 4
            assert client.pool.idle_connections == client.pool.open_connections

    with serving(echo_app) as server:
        run(loop_name, main(server.port))


def test_pool_timeout(loop_name: str) -> None:
    async def main(port: int) -> None:
        url = f"http://127.0.0.1:{port}/"
        limits = PoolLimits(max_connections=1)
        async with AsyncClient(limits=limits, timeouts=Timeouts(pool=0.05)) as client:
            async with client.stream("GET", url):
                with pytest.raises(PoolTimeout):
                    await client.get(url)
            assert (await client.get(url)).status == 200

    with serving(echo_app) as server:
        run(loop_name, main(server.port))


def test_cancellation_in_the_middle_of_a_body(loop_name: str) -> None:
    """A task cancelled while it reads a body leaves no connection behind, and the
    server sees the connection closed."""
    server_saw_close = threading.Event()

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        wait_closed(sock)  # the rest of the body never comes
        server_saw_close.set()

    async def main(port: int) -> None:
        async with AsyncClient() as client:
            first_piece = asyncio.Event()

            async def read() -> None:
                async with client.stream("GET", f"http://127.0.0.1:{port}/") as response:
                    async for _ in response.iter_bytes():
                        first_piece.set()

            task = asyncio.ensure_future(read())
            await first_piece.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.pool.open_connections == 0
            assert server_saw_close.wait(5)

    with ScriptedServer(handler) as scripted:
        run(loop_name, main(scripted.port))


def test_stale_connection_retry(loop_name: str) -> None:
    """Each connection answers one request, then closes when the next one arrives: a GET
    is retried once on a new connection (RFC 9112 §9.3.1), a POST is not."""

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        read_head(sock)  # then close without answering

    async def main(port: int) -> None:
        async with AsyncClient(timeouts=Timeouts(read=5)) as client:
            url = f"http://127.0.0.1:{port}/"
            assert (await client.get(url)).content == b"ok"
            assert (await client.get(url)).content == b"ok"  # retried on connection 2
            with pytest.raises(NetworkError):
                await client.post(url, body=b"x")  # stale connection 2: not retried
            assert client.pool.open_connections == 0

    with ScriptedServer(handler) as scripted:
        run(loop_name, main(scripted.port))
        assert scripted.accepted == 2


def test_bodies_timeouts_and_unix_sockets(loop_name: str, tmp_path: Path) -> None:
    """The async twins of test_client.py's body, UNIX socket and timeout cases."""
    path = str(tmp_path / "ferry.sock")
    (tmp_path / "file").write_bytes(b"from a file")

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"async ", b"", b"pieces"):
            yield piece

    async def main() -> None:
        async with AsyncClient(uds=path) as client:
            url = "http://ferry.local/up"
            echoed = json.loads((await client.put(url, body=pieces())).content or b"")
            assert echoed["body"] == "async pieces"
            assert ["transfer-encoding", "chunked"] in echoed["headers"]
            with (tmp_path / "file").open("rb") as file:
                echoed = json.loads((await client.post(url, body=file)).content or b"")
            assert echoed["body"] == "from a file"
            assert ["content-length", "11"] in echoed["headers"]
            async with client.stream("GET", url) as response:
                assert response.header("content-type") == "application/json"
                assert json.loads(await response.read())["method"] == "GET"
                assert await response.text() == (response.content or b"").decode()
            assert client.pool.idle_connections == 1
            big = b"x" * (8 << 20)  # past the transport's write buffer: flow control
            echoed = json.loads((await client.post(url, body=big)).content or b"")
            assert len(echoed["body"]) == len(big)

    with serving(echo_app, loop=loop_name, uds=path):
        run(loop_name, main())


def test_read_timeout_and_bad_response(loop_name: str) -> None:
    def handler(sock: socket.socket, index: int) -> None:
        head = read_head(sock)
        if b"/bad" in head:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
            sock.shutdown(socket.SHUT_WR)
        wait_closed(sock)  # /slow: no answer

    async def main(port: int) -> None:
        async with AsyncClient(timeouts=Timeouts(read=0.05)) as client:
            with pytest.raises(ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/slow")
            with pytest.raises(RemoteProtocolError):
                await client.get(f"http://127.0.0.1:{port}/bad")
            assert client.pool.open_connections == 0
        with pytest.raises(ClientClosed):
            await client.get(f"http://127.0.0.1:{port}/")

    with ScriptedServer(handler) as scripted:
        run(loop_name, main(scripted.port))


def test_read_timeout_is_between_reads(loop_name: str) -> None:
    """A body that trickles in slower in all than the read timeout, but never pausing
    that long, is read: each wait has the whole timeout (the timer follows it)."""
    pieces = [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"a", b"b", b"c", b"d"]
    pause = threading.Event()  # never set: wait(0.3) paces the server's pieces

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        for piece in pieces:
            sock.sendall(piece)
            pause.wait(0.3)  # pacing the response, not synchronising with the client
        wait_closed(sock)

    async def main(port: int) -> None:
        async with AsyncClient(timeouts=Timeouts(read=1.0)) as client:
            started = time.monotonic()
            assert (await client.get(f"http://127.0.0.1:{port}/")).content == b"abcd"
            assert time.monotonic() - started > 1.0  # longer than one timeout in all

    with ScriptedServer(handler) as scripted:
        run(loop_name, main(scripted.port))


def test_expect_continue(loop_name: str) -> None:
    """The body waits for 100 Continue; a refusal that comes first is returned unsent."""

    def handler(sock: socket.socket, index: int) -> None:
        while head := read_head(sock):
            if b"/refuse" in head:
                sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                assert sock.recv(4) == b""  # the client closes without sending the body
                return
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            assert sock.recv(4) == b"data"
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def main(port: int) -> None:
        async with AsyncClient(expect_continue_above=1) as client:
            url = f"http://127.0.0.1:{port}"
            assert (await client.post(url + "/up", body=b"data")).content == b"ok"
            assert (await client.post(url + "/refuse", body=b"data")).status == 401
            assert client.pool.open_connections == 0  # unsent body: not reusable, closed

    with ScriptedServer(handler) as scripted:
        run(loop_name, main(scripted.port))
        assert scripted.accepted == 1
