"""``--shutdown-delay`` and ``--ready-path``: a real ``ferry serve`` process takes
SIGTERM, goes on serving with ``Connection: close`` while its ready path says 503, then
shuts down; with workers, each of them does."""

from __future__ import annotations

import signal
import socket

import pytest

from ..support import read_until_close
from ..workers.test_workers import workers

APP = "tests.workers._apps:pid"


def get(port: int, target: str, method: str = "GET") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
        return read_until_close(sock)


def head_and_body(response: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")], body


@pytest.mark.parametrize("worker_args", [(), ("--workers", "2")], ids=["single", "workers"])
def test_shutdown_delay_drains_before_the_shutdown(worker_args: tuple[str, ...]) -> None:
    args = (APP, *worker_args, "--shutdown-delay", "30", "--ready-path", "/readyz")
    with workers(*args, "--no-access-log") as ferry:
        if worker_args:
            ferry.ready_pids(2)
        else:
            ferry.wait_for("Ferry serving on")
        assert head_and_body(get(ferry.port, "/readyz")) == (
            [
                b"HTTP/1.1 200 OK",
                b"Content-Type: text/plain; charset=utf-8",
                b"Cache-Control: no-store",
                b"Server: ferry",
                b"Content-Length: 6",
            ],
            b"ready\n",
        )
        with socket.create_connection(("127.0.0.1", ferry.port), timeout=10) as kept:
            kept.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert b"Connection: close" not in kept.recv(65536)
            ferry.signal(signal.SIGTERM)
            for _ in range(2 if worker_args else 1):
                ferry.wait_for(r"draining for 30 s before shutting down \(--shutdown-delay\)")
            # Still serving, each response saying the connection ends with it.
            kept.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            lines, body = head_and_body(read_until_close(kept))
            assert lines[0] == b"HTTP/1.1 200 OK"
            assert b"Connection: close" in lines
        lines, body = head_and_body(get(ferry.port, "/readyz"))
        assert (lines[0], body) == (b"HTTP/1.1 503 Service Unavailable", b"draining\n")
        lines, _ = head_and_body(get(ferry.port, "/"))
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"Connection: close" in lines
        ferry.signal(signal.SIGTERM)  # a second one ends the delay
        assert ferry.finish() == 0


def test_the_ready_path_is_ferrys_own_for_get_and_head_only() -> None:
    with workers(APP, "--ready-path", "/readyz", "--no-access-log") as ferry:
        ferry.wait_for("Ferry serving on")
        lines, body = head_and_body(get(ferry.port, "/readyz", "HEAD"))
        assert (lines[0], body) == (b"HTTP/1.1 200 OK", b"")
        lines, body = head_and_body(get(ferry.port, "/readyz", "POST"))
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert body.isdigit()  # the app's answer: its pid
        lines, body = head_and_body(get(ferry.port, "/readyz?x=1"))
        assert body == b"ready\n"  # the path, whatever the query
