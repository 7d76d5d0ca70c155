"""The access log of WebSocket handshakes, in the HTTP requests' format (combined log
plus duration): a line when the handshake is answered, and for an accepted session a
second when it ends, with the close code in the status's place."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

pytest.importorskip("websockets")

from ..support import connect, exchange, log_lines, read_until_close, serving
from ._app import Seen, make_app

HANDSHAKE = (
    b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUser-Agent: probe/1\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def line_pattern(request: str, status: int, size: int, agent: str = "probe/1") -> str:
    return (
        r"127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        + re.escape(f'"{request}" {status} {size} "-" "{agent}" ')
        + r"\d+\.\d{3}ms"
    )


@pytest.fixture
def port(loop_name: str, caplog: pytest.LogCaptureFixture) -> Iterator[int]:
    caplog.set_level(logging.INFO, logger="ferry.access")
    with serving(make_app(Seen()), loop_name, access_log=True) as running:
        yield running.port


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ferry.access"]


def test_accepted_websocket_logs_101_then_its_end(loop_name: str) -> None:
    with (
        log_lines("ferry.access") as log,
        serving(make_app(Seen()), loop_name, access_log=True) as running,
        connect(running.port) as sock,
    ):
        sock.sendall(
            b"GET /echo?x=1 HTTP/1.1\r\n" + HANDSHAKE + b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        [line] = log.wait(1)  # written when the handshake is answered
        assert re.fullmatch(line_pattern("GET /echo?x=1 HTTP/1.1", 101, 0), line), line
        sock.sendall(b"\x81\x82\x00\x00\x00\x00hi")  # "hi", masked with a zero key
        assert sock.recv(4) == b"\x81\x02hi"
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000
        assert read_until_close(sock) == b"\x88\x02\x03\xe8"
        # And once more when the session ends: its close code in the status's place.
        [_, end] = log.wait(2)
    assert re.fullmatch(line_pattern("GET /echo?x=1 HTTP/1.1", 1000, 0), end), end
    assert log.lines == [line, end]


def test_a_session_lost_without_a_close_frame_ends_with_1006(loop_name: str) -> None:
    with (
        log_lines("ferry.access") as log,
        serving(make_app(Seen()), loop_name, access_log=True) as running,
    ):
        with connect(running.port) as sock:
            sock.sendall(
                b"GET /echo HTTP/1.1\r\n" + HANDSHAKE + b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            log.wait(1)
        [_, end] = log.wait(2)
    assert re.fullmatch(line_pattern("GET /echo HTTP/1.1", 1006, 0), end), end


@pytest.mark.parametrize(
    ("path", "status", "size"),
    [
        ("/deny", 401, 4),  # the app's websocket.http.response: "no" + "pe"
        ("/reject", 403, len(b"403 Forbidden: the application rejected the WebSocket\n")),
        ("/fail", 500, len(b"500 Internal Server Error: Internal Server Error\n")),
    ],
)
def test_denied_websocket_logs_its_status(
    port: int, caplog: pytest.LogCaptureFixture, path: str, status: int, size: int
) -> None:
    request = f"GET {path} HTTP/1.1\r\n".encode() + HANDSHAKE + b"Sec-WebSocket-Version: 13\r\n\r\n"
    response = exchange(port, request, shut=False)
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    [line] = access_lines(caplog)
    assert re.fullmatch(line_pattern(f"GET {path} HTTP/1.1", status, size), line), line


def test_wrong_version_logs_426(port: int, caplog: pytest.LogCaptureFixture) -> None:
    request = b"GET /echo HTTP/1.1\r\n" + HANDSHAKE + b"Sec-WebSocket-Version: 8\r\n\r\n"
    response = exchange(port, request, shut=False)
    body = b"426 Upgrade Required: Sec-WebSocket-Version must be 13\n"
    assert response.endswith(b"\r\n\r\n" + body)
    [line] = access_lines(caplog)
    assert re.fullmatch(line_pattern("GET /echo HTTP/1.1", 426, len(body)), line), line


def test_no_line_without_access_log(loop_name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ferry.access")
    with serving(make_app(Seen()), loop_name, access_log=False) as running:
        request = b"GET /deny HTTP/1.1\r\n" + HANDSHAKE + b"Sec-WebSocket-Version: 13\r\n\r\n"
        assert exchange(running.port, request, shut=False).startswith(b"HTTP/1.1 401 ")
    assert access_lines(caplog) == []
