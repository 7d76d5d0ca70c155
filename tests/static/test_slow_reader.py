"""Memory stays flat while ``ferry serve`` sends a 2 GB file to a client that reads slowly.

The server runs as a subprocess, so its resident memory (``VmRSS``) is its own. The file
is sparse (no disk used); the client shrinks its receive buffer, reads 64 KiB, pauses,
and so on for a few seconds, while the server's RSS is sampled. A server that read ahead
of the socket (ignoring backpressure, or reading the whole file) would grow by hundreds
of megabytes in that time: reading zeros from a sparse file is fast. Zero-copy
(``loop.sendfile``, asyncio) and the 64 KiB ``pread`` pieces (uvloop) must both stay flat.
"""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from tests.server._helpers import Reader, ferry_process, free_port, parse_fields, tcp_connector

from ._http import request

pytestmark = pytest.mark.slow

FILE_SIZE = 2 << 30
READ_SIZE = 64 * 1024
PAUSE_S = 0.01  # between reads of at most a receive buffer: a few MB/s
READ_FOR_S = 3.0  # of the transfer, then the client closes (2 GB would take minutes)
RECEIVE_BUFFER = 16 * 1024
WARM_UP_RANGE = 1 << 20
RSS_GROWTH_LIMIT = 16 << 20


def test_memory_flat_for_a_slow_reader_of_a_2_gb_file(loop_name: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with (root / "big.bin").open("wb") as file:
        file.truncate(FILE_SIZE)
    port = free_port()
    args = [str(root), "--port", str(port), "--loop", loop_name, "--no-access-log"]
    with ferry_process([*args, "--log-level", "warning"]) as ferry:
        ferry.wait_ready(tcp_connector(port))
        warm_up(port)
        before = vm_rss(ferry.proc.pid)
        received, peak = read_slowly(port, ferry.proc.pid)
        assert ferry.proc.poll() is None, "the server died"
    assert received >= 1 << 20, f"only {received} bytes arrived"
    assert received < FILE_SIZE // 8  # the client really was slow
    growth = peak - before
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB"


def warm_up(port: int) -> None:
    """One file response through the same send path (first MiB), so that what is
    imported and allocated once is in the baseline."""
    response = request(port, "/big.bin", headers={"Range": f"bytes=0-{WARM_UP_RANGE - 1}"})
    assert response.status == 206
    assert response.body == bytes(WARM_UP_RANGE)


def read_slowly(port: int, pid: int) -> tuple[int, int]:
    """GET the big file, read it slowly for READ_FOR_S seconds, close; return the body
    bytes received and the highest server RSS seen meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.settimeout(5.0)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reader = Reader(sock)
        head = reader.head()
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        assert parse_fields(head)[b"content-length"] == str(FILE_SIZE).encode()
        received, peak = len(reader.buf), 0
        deadline = time.monotonic() + READ_FOR_S
        while time.monotonic() < deadline:
            chunk = sock.recv(READ_SIZE)
            assert chunk, f"closed after {received} body bytes"
            assert chunk.count(0) == len(chunk), "a sparse file reads as zeros"
            received += len(chunk)
            peak = max(peak, vm_rss(pid))
            select.select([], [], [], PAUSE_S)  # the slow reader's pause (time is the point)
    return received, max(peak, vm_rss(pid))


def vm_rss(pid: int) -> int:
    """The process's resident set size in bytes, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")
