"""Flow control both ways: big bodies stream through in bounded memory, a client that does
not read makes the application's send() wait, and an application that does not read makes
the server stop reading. The server runs in this process, so tracemalloc sees its memory
(the client side here allocates nothing per byte: it sends from and reads into buffers)."""

from __future__ import annotations

import os
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest

from ferry.asgi import ASGIApp, Receive, Scope, Send
from ferry.server._protocol import HTTPProtocol

from ..support import ServerThread, serving
from ._helpers import Flag, Gate, on_server_loop, open_connection

MB = 1 << 20
BLOCK = os.urandom(MB)
MEMORY_BOUND = 32 * MB


def only_connection(server: ServerThread) -> HTTPProtocol:
    assert server.server is not None
    [protocol] = server.server.state.connections
    return protocol


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def recv_exactly(sock: socket.socket, size: int, check: int = 0) -> int:
    """Read ``size`` bytes into one reused buffer; the crc32 of them (after ``check``)."""
    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view, min(len(buffer), size - got))
        if n == 0:
            raise ConnectionError(f"closed after {got} of {size} bytes")
        check = zlib.crc32(view[:n], check)
        got += n
    return check


def blocks_crc(count: int) -> int:
    check = 0
    for _ in range(count):
        check = zlib.crc32(BLOCK, check)
    return check


async def crc_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body piece by piece, answers ``<bytes> <crc32>``."""
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    size = check = 0
    while True:
        message = await receive()
        body = message.get("body", b"")
        size += len(body)
        check = zlib.crc32(body, check)
        if not message.get("more_body"):
            break
    answer = f"{size} {check}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


def blocks_app(
    count: int, *, progress: list[int] | None = None, done: Flag | None = None
) -> ASGIApp:
    """Sends ``count`` copies of BLOCK with a Content-Length; counts what send() accepted."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        length = str(count * MB).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        for i in range(count):
            more = i < count - 1
            await send({"type": "http.response.body", "body": BLOCK, "more_body": more})
            if progress is not None:
                progress[0] += MB
        if done is not None:
            done.set()

    return app


@pytest.mark.slow
@pytest.mark.usefixtures("traced")
def test_200mb_upload_streams_in_bounded_memory(loop_name: str) -> None:
    count = 200
    with serving(crc_app, loop_name) as server:
        sock, reader = open_connection(server.port, timeout=30)
        with sock:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (count * MB))
            for _ in range(count):
                sock.sendall(BLOCK)
            response = reader.response()
            _, peak = tracemalloc.get_traced_memory()
    assert response.endswith(b"\r\n\r\n%d %d" % (count * MB, blocks_crc(count)))
    assert peak - base < MEMORY_BOUND, f"server grew by {(peak - base) / MB:.1f} MB"


@pytest.mark.slow
@pytest.mark.usefixtures("traced")
def test_200mb_download_streams_in_bounded_memory(loop_name: str) -> None:
    count = 200
    with serving(blocks_app(count), loop_name) as server:
        sock, reader = open_connection(server.port, timeout=30)
        with sock:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            response_head = reader.head()
            assert b"\r\nContent-Length: %d\r\n" % (count * MB) in response_head
            already = reader.buf
            check = recv_exactly(sock, count * MB - len(already), zlib.crc32(already))
            _, peak = tracemalloc.get_traced_memory()
    assert check == blocks_crc(count)
    assert peak - base < MEMORY_BOUND, f"server grew by {(peak - base) / MB:.1f} MB"


def test_a_client_that_does_not_read_makes_send_wait(loop_name: str) -> None:
    count = 64
    progress = [0]
    done = Flag()
    with serving(blocks_app(count, progress=progress, done=done), loop_name) as server:
        sock = socket.socket()
        # A small receive window, so that the kernel buffers little on the client's side.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            # The expected behaviour is an absence: the app does not get to send it all.
            assert done.stays_unset(1.0)
            sent_while_stalled = on_server_loop(server, lambda: progress[0])
            buffered = on_server_loop(
                server, lambda: only_connection(server).transport.get_write_buffer_size()
            )
            assert sent_while_stalled < 16 * MB
            # What Ferry holds is one piece past the transport's high-water mark at most.
            assert buffered <= MB + 64 * 1024
            # Now read it all: nothing was lost while the app waited.
            head_bytes = b""
            while b"\r\n\r\n" not in head_bytes:
                head_bytes += sock.recv(1)
            check = recv_exactly(sock, count * MB)
        done.wait()
    assert check == blocks_crc(count)


def test_an_app_that_does_not_read_makes_the_server_stop_reading(loop_name: str) -> None:
    count = 64
    gate = Gate()
    sent = [0]
    sender_done = Flag()

    async def slow_reader(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await crc_app(scope, receive, send)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await slow_reader(scope, receive, send)

    def upload(sock: socket.socket) -> None:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (count * MB))
        view = memoryview(BLOCK)
        for _ in range(count):
            for i in range(0, MB, 65536):
                sock.sendall(view[i : i + 65536])
                sent[0] += 65536
        sender_done.set()

    with serving(app, loop_name) as server, gate:
        sock, reader = open_connection(server.port, timeout=30)
        with sock:
            sender = threading.Thread(target=upload, args=(sock,), daemon=True)
            sender.start()
            gate.arrived()
            # The absence again: the client cannot push the whole body through.
            assert sender_done.stays_unset(1.0)
            assert sent[0] < 16 * MB

            def held() -> int:
                protocol = only_connection(server)
                assert protocol.cycle is not None
                return protocol.cycle.queued + protocol.conn.buffered_size

            # Queued for the app plus unparsed: about the high-water mark and one read.
            assert held() <= MB
            gate.open()
            response = reader.response()
            sender.join(10)
    assert response.endswith(b"\r\n\r\n%d %d" % (count * MB, blocks_crc(count)))


def test_pipelined_bytes_wait_in_a_bounded_buffer(loop_name: str) -> None:
    count = 32
    gate = Gate()
    sender_done = Flag()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        if scope["path"] == "/first":
            await gate.wait()
        await crc_app(scope, receive, send)

    def pipeline(sock: socket.socket) -> None:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
        # The next request, pipelined behind the first while its app works.
        sock.sendall(b"POST /next HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (count * MB))
        for _ in range(count):
            sock.sendall(BLOCK)
        sender_done.set()

    with serving(app, loop_name, max_pipeline_buffer=65536) as server, gate:
        sock, reader = open_connection(server.port, timeout=30)
        with sock:
            sender = threading.Thread(target=pipeline, args=(sock,), daemon=True)
            sender.start()
            gate.arrived()
            assert sender_done.stays_unset(1.0)  # the server stopped reading
            held = on_server_loop(server, lambda: only_connection(server).conn.buffered_size)
            assert held <= 65536 + MB  # the limit, and what one read may bring past it
            gate.open()
            first = reader.response()
            second = reader.response()
            sender.join(10)
    assert first.endswith(b"\r\n\r\n0 0")
    assert second.endswith(b"\r\n\r\n%d %d" % (count * MB, blocks_crc(count)))
