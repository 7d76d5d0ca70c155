"""A tiny HTTP/1.1 client for the static tests: one request per connection, read to the close.

The response's header fields keep their order and spelling, without ``Date`` (it changes
every second) and ``Server-Timing`` (durations; kept aside in ``server_timing``), so tests
compare whole heads exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import exchange


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    server_timing: str | None = None

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, f"{name} repeated: {values}"
        return values[0] if values else None


def request(
    port: int, target: str | bytes, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    """Send one request with ``Connection: close`` and parse what comes back."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    lines.append(b"Connection: close")
    raw = exchange(port, b"\r\n".join(lines) + b"\r\n\r\n")
    return parse_response(raw)


def parse_response(raw: bytes) -> Response:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {raw!r}"
    status_line, *field_lines = head.decode("latin-1").split("\r\n")
    fields = []
    server_timing = None
    for line in field_lines:
        name, _, value = line.partition(":")
        if name.lower() == "server-timing":
            assert server_timing is None, "Server-Timing repeated"
            server_timing = value.strip()
        elif name.lower() != "date":
            fields.append((name, value.strip()))
    if ("Transfer-Encoding", "chunked") in fields:
        body = dechunk(body)
    return Response(int(status_line.split(" ")[1]), fields, body, server_timing)


def dechunk(data: bytes) -> bytes:
    out = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[:size])
        assert data[size : size + 2] == b"\r\n"
        data = data[size + 2 :]
