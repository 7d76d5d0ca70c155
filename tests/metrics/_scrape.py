"""Reading an exposition the way Prometheus does: with prometheus_client's own parser."""

from __future__ import annotations

import socket

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
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def samples_at(port: int) -> Samples:
    head, body = scrape(port)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    return parse(body.decode())[0]
