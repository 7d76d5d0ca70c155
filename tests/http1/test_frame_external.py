"""frame_external: the framing around body bytes the server writes itself (sendfile)."""

from __future__ import annotations

import pytest

from ferry import LocalProtocolError
from ferry.http1 import ServerConnection


def _responding(
    request: bytes, headers: list[tuple[bytes, bytes]], **kwargs: object
) -> ServerConnection:
    conn = ServerConnection()
    conn.receive_data(request)
    conn.next_event()
    conn.next_event()
    conn.send_response(200, headers, **kwargs)  # type: ignore[arg-type]
    return conn


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_chunked_framing_wraps_the_range() -> None:
    conn = _responding(GET, [])
    assert conn.frame_external(300) == (b"12c\r\n", b"\r\n")
    assert conn.frame_external(0) == (b"", b"")
    assert conn.send_end() == b"0\r\n\r\n"


def test_length_from_the_hint_counts_the_range() -> None:
    conn = ServerConnection()
    conn.receive_data(GET)
    conn.next_event()
    conn.next_event()
    head = conn.send_response(200, [], length=10)
    assert b"Content-Length: 10\r\n" in head
    assert conn.frame_external(6) == (b"", b"")
    with pytest.raises(LocalProtocolError, match="longer than its Content-Length"):
        conn.frame_external(5)
    assert conn.frame_external(4) == (b"", b"")
    assert conn.send_end() == b""


def test_no_body_for_head() -> None:
    conn = _responding(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", [(b"content-length", b"5")])
    assert conn.frame_external(5) is None


def test_only_while_a_body_is_being_sent() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError, match="no response body is being sent"):
        conn.frame_external(1)


def test_close_delimited_framing_adds_nothing() -> None:
    conn = _responding(b"GET / HTTP/1.0\r\n\r\n", [])
    assert conn.frame_external(7) == (b"", b"")
