"""Reading an exposition the way Prometheus does: with prometheus_client's own parser."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type by its name."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it is absent: a counter never incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(port: int, path: str = "/metrics") -> tuple[bytes, bytes]:
    """GET ``path`` from the metrics listener on ``port``: (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: metrics\r\n\r\n".encode())
        data = read_to_close(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def edges(port: int) -> None:
    """What a metrics listener answers besides a scrape: a head arriving in pieces, a
    404, a 405, and a connection closed before a request (nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"HEAD /metrics HTTP/1.1\r\n")
        sock.sendall(b"Host: m\r\n\r\n")
        assert read_to_close(sock).startswith(b"HTTP/1.1 200 OK\r\n")
    assert scrape(port, "/other")[0].startswith(b"HTTP/1.1 404 Not Found\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"DELETE /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
        assert read_to_close(sock).startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.shutdown(socket.SHUT_WR)
        assert read_to_close(sock) == b""


def read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def samples_at(port: int) -> Samples:
    head, body = scrape(port)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    return parse(body.decode())[0]


def samples_when(port: int, ready: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """The first scrape for which ``ready`` holds, or the last one after ``timeout``
    (then the test's own assertions say what is missing). A worker publishes its
    counts on its ticker, every half second, so a scrape with ``--workers`` can be that
    much behind the traffic: this waits for the counts to arrive, not for a time."""
    deadline = time.monotonic() + timeout
    while True:
        samples = samples_at(port)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)  # polling a scrape with a deadline, not a sync
