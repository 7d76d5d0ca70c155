"""Large files through the server's file sending (server/_sendfile.py), on both loops.

On either loop the server calls ``os.sendfile`` on the socket itself while the transport's
buffer is empty, and writes one 64 KiB piece through the transport when the socket is full.
Every test reads exact bytes back: a wrong offset, a lost or repeated piece, or bytes out
of order would show.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry import LocalProtocolError
from ferry.asgi._files import Descriptor
from ferry.server._sendfile import SENDFILE_TURN, send_file
from ferry.static import StaticFiles
from tests.server._helpers import Reader, captured_log, on_server_loop, parse_fields
from tests.support import ServerThread, serving

# Bigger than the server's largest send buffer (net.ipv4.tcp_wmem, 4 MiB by default)
# plus a small receive buffer: a client that stops reading fills the socket.
BIG_SIZE = 24 << 20
RECEIVE_BUFFER = 16 * 1024


def pattern(size: int) -> bytes:
    """Bytes whose every 8-byte word holds its own offset: any misplaced piece shows."""
    return b"".join(offset.to_bytes(8, "big") for offset in range(0, size, 8))[:size]


CONTENT = pattern(BIG_SIZE + 5)


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    (root / "big.bin").write_bytes(CONTENT)
    return root


@pytest.fixture
def big_server(loop_name: str, big_root: Path) -> Iterator[ServerThread]:
    with serving(StaticFiles(big_root), loop_name) as running:
        yield running


def get(sock: socket.socket, target: str = "/big.bin", **fields: str) -> None:
    lines = [f"GET {target} HTTP/1.1", "Host: t", *(f"{k}: {v}" for k, v in fields.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def body_of(reader: Reader) -> tuple[bytes, bytes]:
    head = reader.head()
    return head, reader.exactly(int(parse_fields(head)[b"content-length"]))


def test_a_big_file_arrives_exactly_twice_on_one_connection(big_server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", big_server.port), timeout=10) as sock:
        reader = Reader(sock)
        for _ in range(2):  # the second response's head follows the first body exactly
            get(sock)
            head, body = body_of(reader)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body == CONTENT


def test_a_big_range_and_big_multipart_parts_arrive_exactly(big_server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", big_server.port), timeout=10) as sock:
        reader = Reader(sock)
        get(sock, Range="bytes=3-9000002")
        head, body = body_of(reader)
        assert parse_fields(head)[b"content-range"] == f"bytes 3-9000002/{len(CONTENT)}".encode()
        assert body == CONTENT[3:9000003]
        get(sock, Range="bytes=100-200099,-300000")
        head, body = body_of(reader)
    boundary = parse_fields(head)[b"content-type"].partition(b"boundary=")[2]
    parts = body.split(b"--" + boundary)
    assert [part.partition(b"\r\n\r\n")[2] for part in parts[1:-1]] == [
        CONTENT[100:200100] + b"\r\n",
        CONTENT[-300000:] + b"\r\n",
    ]
    assert parts[-1] == b"--\r\n"


def buffered_bytes(server: ServerThread) -> int:
    """What the server's transports hold, read on its loop."""
    assert server.server is not None
    connections = server.server.state.connections
    return on_server_loop(
        server, lambda: sum(c.transport.get_write_buffer_size() for c in connections)
    )


def test_a_client_that_stops_reading_holds_back_the_server(big_server: ServerThread) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    with sock:
        sock.settimeout(10)
        sock.connect(("127.0.0.1", big_server.port))
        get(sock)
        reader = Reader(sock)
        reader.head()
        # The socket fills; one piece then waits in the transport, and no more.
        deadline = time.monotonic() + 10
        while (held := buffered_bytes(big_server)) == 0:
            assert time.monotonic() < deadline, "the server never found the socket full"
        assert held <= 64 * 1024
        assert buffered_bytes(big_server) <= held  # nothing more while nobody reads
        assert reader.exactly(len(CONTENT)) == CONTENT  # reading again: every byte


def test_a_client_gone_mid_file_costs_nothing_but_its_connection(
    big_server: ServerThread,
) -> None:
    assert big_server.server is not None
    state = big_server.server.state
    with captured_log("ferry.error") as errors:
        sock = socket.create_connection(("127.0.0.1", big_server.port), timeout=10)
        get(sock)
        Reader(sock).exactly(1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # linger 0: a reset, while the server is still sending
        deadline = time.monotonic() + 10
        while on_server_loop(big_server, lambda: len(state.connections)):
            assert time.monotonic() < deadline, "the connection was never let go"
        with socket.create_connection(("127.0.0.1", big_server.port), timeout=10) as again:
            get(again, Range="bytes=0-9")
            assert body_of(Reader(again))[1] == CONTENT[:10]
    assert errors == []


class _TLSLikeTransport:
    """A transport that reports an SSL context (and a real socket it must not touch)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.written: list[bytes] = []

    def get_extra_info(self, name: str) -> Any:
        return {"sslcontext": object(), "socket": self.sock}.get(name)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


class _Protocol:
    def __init__(self, transport: _TLSLikeTransport) -> None:
        self.transport = transport
        self.lost = False
        self.write_paused = False

    async def drain(self) -> None:
        raise AssertionError("never paused")


def test_tls_transports_get_pieces_never_os_sendfile(big_root: Path) -> None:
    left, right = socket.socketpair()
    with left, right, (big_root / "big.bin").open("rb") as file:
        transport = _TLSLikeTransport(left)
        protocol: Any = _Protocol(transport)
        asyncio.run(send_file(protocol, file, 7, 200_000))
        right.setblocking(False)
        with pytest.raises(BlockingIOError):
            right.recv(1)  # nothing went to the socket behind the "TLS" layer
    assert [len(piece) for piece in transport.written] == [65536, 65536, 65536, 3392]
    assert b"".join(transport.written) == CONTENT[7:200_007]


class _PlainTransport(_TLSLikeTransport):
    """A plain transport over a real socket whose peer has gone."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return {"socket": self.sock}.get(name)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def test_os_sendfile_meeting_a_gone_client_aborts_the_transport(big_root: Path) -> None:
    left, right = socket.socketpair()
    right.close()
    transport = _PlainTransport(left)
    protocol: Any = _Protocol(transport)

    async def drain() -> None:  # what the real one does after an abort: connection_lost
        protocol.lost = True

    protocol.drain = drain
    with left, (big_root / "big.bin").open("rb") as file:
        asyncio.run(send_file(protocol, file, 0, 1 << 20))
    assert transport.aborted
    assert transport.written == []


def test_a_socket_never_full_still_lets_the_loop_run_between_turns(
    big_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket that takes whatever it is given (a fast reader over loopback) never makes
    # send_file wait: it must still let the loop run the others after each turn's bytes.
    calls: list[tuple[int, int, int]] = []  # (offset, count asked for, loop passes seen)
    passes: list[None] = []

    def takes_all(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append((offset, count, len(passes)))
        return count

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def count_pass() -> None:  # runs once per pass of the loop
            passes.append(None)
            if len(passes) < 1000:
                loop.call_soon(count_pass)

        loop.call_soon(count_pass)
        monkeypatch.setattr(os, "sendfile", takes_all)
        with (big_root / "big.bin").open("rb") as file:
            await send_file(protocol, file, 5, 3 * SENDFILE_TURN + 7)

    left, right = socket.socketpair()
    protocol: Any = _Protocol(_PlainTransport(left))
    with left, right:
        asyncio.run(main())
    turn = SENDFILE_TURN
    assert [(offset, count) for offset, count, _ in calls] == [
        (5, turn),
        (5 + turn, turn),
        (5 + 2 * turn, turn),
        (5 + 3 * turn, 7),
    ]
    seen = [seen for _, _, seen in calls]
    assert seen == sorted(set(seen))  # the loop ran between every two turns


def test_a_descriptor_reads_seeks_and_tells_like_the_file_it_stands_for(
    big_root: Path,
) -> None:
    # zerocopysend's int fds become Descriptors; asyncio's sendfile fallback reads them.
    with (big_root / "big.bin").open("rb", buffering=0) as file:
        descriptor = Descriptor(file.fileno())
        assert (descriptor.fileno(), descriptor.mode) == (file.fileno(), "rb")
        assert descriptor.seek(16) == 16
        buffer = bytearray(8)
        assert descriptor.readinto(buffer) == 8
        assert bytes(buffer) == CONTENT[16:24]
        assert descriptor.tell() == file.tell() == 24
        assert descriptor.seek(-5, os.SEEK_END) == len(CONTENT) - 5
        assert file.read() == CONTENT[-5:]


def test_a_file_sendfile_cannot_read_goes_in_pieces(
    big_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sendfile(*args: int) -> int:
        raise OSError(errno.EINVAL, "not for this file")

    monkeypatch.setattr(os, "sendfile", no_sendfile)
    left, right = socket.socketpair()
    with left, right, (big_root / "big.bin").open("rb") as file:
        transport = _PlainTransport(left)
        asyncio.run(send_file(_Protocol(transport), file, 3, 70_000))  # type: ignore[arg-type]
    assert b"".join(transport.written) == CONTENT[3:70_003]


def test_a_file_shorter_than_the_range_is_a_local_error(big_root: Path) -> None:
    left, right = socket.socketpair()
    end = len(CONTENT)
    with left, right, (big_root / "big.bin").open("rb") as file:
        for transport in (_PlainTransport(left), _TLSLikeTransport(left)):
            protocol: Any = _Protocol(transport)
            with pytest.raises(LocalProtocolError, match="shorter than the range"):
                asyncio.run(send_file(protocol, file, end - 10, 100))
        right.setblocking(False)
        assert right.recv(100) == CONTENT[-10:]  # os.sendfile's bytes; then nothing more


def test_pieces_wait_for_the_client_when_the_transport_pauses(big_root: Path) -> None:
    left, right = socket.socketpair()
    with left, right, (big_root / "big.bin").open("rb") as file:
        transport = _TLSLikeTransport(left)
        protocol: Any = _Protocol(transport)
        protocol.write_paused = True
        drained: list[int] = []

        async def drain() -> None:
            drained.append(len(transport.written))

        protocol.drain = drain
        asyncio.run(send_file(protocol, file, 0, 3 * 65536))
    assert drained == [1, 2, 3]  # after every piece


def corked(transport: Any) -> int:
    sock = transport.get_extra_info("socket")
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


def test_the_head_and_the_file_leave_corked_then_the_socket_is_uncorked(
    big_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TCP_CORK (nginx's tcp_nopush) while the head and the file go out, so that the head
    shares a full segment with the file's first bytes; off again once the file is sent,
    or the response's last partial segment would wait 200 ms in the kernel."""
    seen: list[int] = []
    original = os.sendfile

    def watching(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        if not seen:  # the file's first bytes: the cork as file sending starts
            sock = socket.socket(fileno=out_fd)
            try:
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
            finally:
                sock.detach()
        return original(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", watching)
    with socket.create_connection(("127.0.0.1", big_server.port), timeout=10) as sock:
        reader = Reader(sock)
        get(sock, Range="bytes=0-99999")
        head, body = body_of(reader)
        assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
        assert body == CONTENT[:100000]
        assert big_server.server is not None
        connections = big_server.server.state.connections
        after = on_server_loop(big_server, lambda: [corked(c.transport) for c in connections])
    assert seen == [1]
    assert after == [0]
