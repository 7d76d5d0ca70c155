"""Graceful shutdown serves the listen backlog (``server._backlog``): a connection the
kernel completed before the listener closed gets its response; one it did not complete
is refused. None is reset after sending its request."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferry.asgi import Receive, Scope, Send
from ferry.server._backlog import handshakes_in_flight

from ..support import serving
from ._helpers import (
    FIXED_DATE,
    ferry_process,
    free_port,
    head,
    normalise_date,
    on_server_loop,
    tcp_connector,
)
from .test_staged_close import read_to_eof, until_on_server_loop

CLIENTS = 400
SIGNAL_AFTER = 1000  # responses received before SIGTERM
REQUEST = b"GET /n HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
RESPONSE = (
    head(
        "HTTP/1.1 200 OK",
        FIXED_DATE.decode().rstrip(),
        "Server: ferry",
        "Content-Length: 8",
        "Connection: close",
    )
    + b"GET /n: "
)


@dataclass
class Tally:
    answered: int = 0  # a whole 200, then EOF
    refused: int = 0  # the connection was refused, or not made in time: nothing was sent
    lost: int = 0  # sent a request, then a reset or an EOF without the whole response
    wrong: int = 0  # a response, but not the expected one


async def one_client(
    port: int, tally: Tally, first_lost: list[bytes], enough: asyncio.Event
) -> None:
    """Request after request, each on a new connection, until a connection fails."""
    while True:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=10
            )
        except (OSError, TimeoutError):
            tally.refused += 1
            return
        try:
            writer.write(REQUEST)
            received = await reader.read(-1)  # to the EOF
        except OSError:
            received = None
        finally:
            writer.close()
        if received is None or not received:
            tally.lost += 1
            first_lost.append(received or b"")
            return
        if normalise_date(received) != RESPONSE:
            tally.wrong += 1
            first_lost.append(received)
            return
        tally.answered += 1
        if tally.answered == SIGNAL_AFTER:
            enough.set()


async def load(port: int, enough: asyncio.Event, tally: Tally, lost: list[bytes]) -> None:
    """CLIENTS clients at once; ``enough`` is set at SIGNAL_AFTER responses (or when
    every client has stopped), and each goes on until its connection fails."""
    clients = [asyncio.ensure_future(one_client(port, tally, lost, enough)) for _ in range(CLIENTS)]
    try:
        await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
    finally:
        enough.set()


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_sigterm_under_load_loses_no_request(loop_name: str, workers: int) -> None:
    """With workers, the main process seals the socket they share before it tells them
    to stop, and each takes its share of the queue (``Supervisor._seal``)."""
    port = free_port()
    args = ["tests.server._apps:echo", "--port", str(port), "--loop", loop_name]
    args += ["--no-access-log", "--backlog", "2048", "--workers", str(workers)]
    tally = Tally()
    lost: list[bytes] = []
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))

        async def main() -> None:
            enough = asyncio.Event()
            running = asyncio.ensure_future(load(port, enough, tally, lost))
            await enough.wait()
            ferry.signal(signal.SIGTERM)
            await running

        asyncio.run(main())
        code, _, err = ferry.finish(timeout=60)
    print(f"TALLY {loop_name} {tally}")  # for runs by hand (pytest -s)
    assert code == 0, err
    assert tally.answered >= SIGNAL_AFTER
    assert (tally.lost, tally.wrong, lost[:3]) == (0, 0, [])
    assert tally.refused == CLIENTS  # every client ends at a refused (or timed-out) connect
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


# -- in process: the queue at the moment shutdown begins ----------------------------------


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def closing_ok() -> bytes:
    fields = (FIXED_DATE.decode().rstrip(), "Server: ferry", "Content-Length: 2")
    return head("HTTP/1.1 200 OK", *fields, "Connection: close") + b"ok"


def queue_then_stop(server: Any, connect: Callable[[], socket.socket]) -> list[socket.socket]:
    """On the server's loop, so that it accepts none of them first: open 5 connections
    (the kernel queues them), send a request on each, and ask the server to stop."""

    def run() -> list[socket.socket]:
        clients = [connect() for _ in range(5)]
        for sock in clients:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        server.server.should_exit.set()
        return clients

    return on_server_loop(server, run)


def test_the_queued_connections_are_served_at_shutdown(loop_name: str) -> None:
    with serving(hello, loop_name) as server:
        address = ("127.0.0.1", server.port)
        clients = queue_then_stop(server, lambda: socket.create_connection(address, timeout=5))
        answers = [read_to_eof(sock) for sock in clients]
        for sock in clients:
            sock.close()
    assert answers == [closing_ok()] * 5


def test_the_queued_unix_connections_are_served_at_shutdown(loop_name: str, tmp_path: Path) -> None:
    path = str(tmp_path / "ferry.sock")

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(5)
        sock.connect(path)
        return sock

    with serving(hello, loop_name, uds=path) as server:
        clients = queue_then_stop(server, connect)
        answers = [read_to_eof(sock) for sock in clients]
        for sock in clients:
            sock.close()
    assert answers == [closing_ok()] * 5
    assert not os.path.exists(path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux socket filter")
def test_a_handshake_in_flight_at_shutdown_is_served(loop_name: str) -> None:
    # The listener is made to drop every segment but a SYN: the client's handshake stays
    # half done on the server (SYN_RECV) while the client, connected, sends its request.
    # Shutdown's own filter lets the client's retransmitted request complete it.
    keep_only_syn = [(0x30, 0, 0, 13), (0x54, 0, 0, 0x12), (0x15, 0, 1, 0x02)]
    keep_only_syn += [(0x06, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 0)]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in keep_only_syn))
    with serving(hello, loop_name) as server:
        listener = socket.socket(fileno=os.dup(server.server.sockets[0].fileno()))
        with listener:
            fprog = struct.pack("HP", len(keep_only_syn), ctypes.addressof(code))
            listener.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
            client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert handshakes_in_flight(listener) == 1
        with client:
            on_server_loop(server, server.server.should_exit.set)
            assert read_to_eof(client) == closing_ok()


def test_a_listener_passed_in_is_left_able_to_accept(loop_name: str) -> None:
    # With --fd the listening socket may outlive this server (its owner may hand it to
    # the next one): the filter that sealed it for the shutdown must come off again.
    with socket.socket() as owned:
        owned.bind(("127.0.0.1", 0))
        owned.listen(8)
        with serving(hello, loop_name, fd=os.dup(owned.fileno())):
            pass  # started and shut down
        with socket.create_connection(owned.getsockname(), timeout=2) as client:
            accepted, _ = owned.accept()  # the handshake completed: no SYN was dropped
            accepted.close()
            client.close()


def test_a_new_connection_that_sends_nothing_holds_shutdown_briefly(loop_name: str) -> None:
    # It gets _REQUEST_AT_SHUTDOWN (1 s) to begin its request, not head_timeout.
    with serving(hello, loop_name, head_timeout=60, graceful_timeout=60) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with sock:
            until_on_server_loop(server, lambda: len(server.server.state.connections) == 1)
            start = time.monotonic()
            server.stop()
            elapsed = time.monotonic() - start
            assert read_to_eof(sock) == b""
    assert elapsed < 10
