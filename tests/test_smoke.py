from __future__ import annotations

from .support import echo_app, exchange, serving


def test_get_round_trip(loop_name: str) -> None:
    with serving(echo_app, loop_name) as server:
        response = exchange(server.port, b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nDate: ")
    assert b'"path": "/a b"' in body
