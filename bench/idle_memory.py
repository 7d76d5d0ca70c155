"""Memory per idle keep-alive connection, read from the server's RSS.

The harness opens WARM_CONNECTIONS connections and makes one request on each (so the
server's code paths and allocator pools are warm), reads the server's VmRSS, then
opens `count` more connections one at a time, each with one complete keep-alive
request and its response (proof that the server accepted it and set up its
per-connection state), and leaves them idle. It reads VmRSS again and reports
(after - before) / count. Before closing everything it checks that the server has
not closed any of them (a keep-alive timeout firing mid-measurement would hide
their cost).
"""

import resource
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import probe

WARM_CONNECTIONS = 32
CONNECT_TIMEOUT_S = 5.0
DEADLINE_S = 120.0
SPARE_FILES = 256  # descriptors beyond the connections: wrk pipes, logs, the venv


class MeasurementError(Exception):
    """The measurement could not be made (too slow, server closed connections...)."""


@dataclass(frozen=True)
class MemoryResult:
    connections: int
    rss_before: int
    rss_after: int
    bytes_per_connection: float
    open_seconds: float


def raise_open_file_limit(connections: int) -> None:
    """Raise RLIMIT_NOFILE's soft limit for `connections` sockets, in this process and
    in the servers it starts later (they inherit it). Raises `OSError` if the hard
    limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + WARM_CONNECTIONS + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise OSError(f"RLIMIT_NOFILE hard limit {hard} < {wanted}; raise `ulimit -Hn`")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def vm_rss_bytes(pid: int) -> int:
    """Return the resident set size of process `pid` from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) * 1024
    raise MeasurementError(f"no VmRSS for process {pid}")


def measure(pid: int, port: int, count: int) -> MemoryResult:
    """Return the RSS growth of server `pid` per idle keep-alive connection."""
    deadline = time.monotonic() + DEADLINE_S
    connections: list[socket.socket] = []
    try:
        open_idle_connections(connections, port, WARM_CONNECTIONS, deadline)
        rss_before = vm_rss_bytes(pid)
        started = time.monotonic()
        open_idle_connections(connections, port, count, deadline)
        open_seconds = time.monotonic() - started
        rss_after = vm_rss_bytes(pid)
        if closed := count_closed_by_server(connections):
            raise MeasurementError(f"the server closed {closed} idle connections during the run")
    finally:
        for sock in connections:
            sock.close()
    per_connection = (rss_after - rss_before) / count
    return MemoryResult(count, rss_before, rss_after, per_connection, open_seconds)


def open_idle_connections(
    connections: list[socket.socket], port: int, count: int, deadline: float
) -> None:
    """Append `count` connections to `connections`, each after one full request."""
    for _ in range(count):
        if time.monotonic() > deadline:
            raise MeasurementError(f"could not open the connections within {DEADLINE_S:.0f} s")
        sock = probe.connect(port, CONNECT_TIMEOUT_S)
        connections.append(sock)
        response = probe.get(sock, port)
        if response.status != 200:
            raise MeasurementError(f"GET / answered {response.status}")


def count_closed_by_server(connections: list[socket.socket]) -> int:
    """Count connections on which the server has closed its side (EOF is readable)."""
    closed = 0
    for sock in connections:
        sock.setblocking(False)  # a socket with a timeout would wait for data first
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass  # nothing to read: still open and idle
        except OSError:
            closed += 1  # reset by the server
    return closed
