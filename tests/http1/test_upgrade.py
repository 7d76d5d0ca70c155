"""The Upgrade path: which requests the engine offers to upgrade, and the 101 that
switches both sides to SWITCHED_PROTOCOL, handing back the bytes after the request."""

from __future__ import annotations

import pytest

from ferry import LocalProtocolError
from ferry.http1 import PAUSED, EndOfMessage, Request, ServerConnection, State

UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
)


def request_of(head: bytes) -> Request:
    conn = ServerConnection()
    conn.receive_data(head)
    event = conn.next_event()
    assert type(event) is Request
    return event


def test_upgrade_is_offered_to_a_bodiless_get() -> None:
    assert request_of(UPGRADE + b"\r\n").upgrade == b"websocket"


def test_repeated_upgrade_fields_are_joined() -> None:
    request = request_of(UPGRADE + b"Upgrade: h2c\r\n\r\n")
    assert request.upgrade == b"websocket, h2c"


@pytest.mark.parametrize(
    "head",
    [
        # Connection does not list "upgrade" (RFC 9110 §7.8: then Upgrade is ignored).
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUpgrade: websocket\r\n\r\n",
        # Connection lists it, but there is no Upgrade field.
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n",
        # Not a bodiless HTTP/1.1 GET.
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 2\r\n\r\nab",
    ],
)
def test_upgrade_is_not_offered(head: bytes) -> None:
    assert request_of(head).upgrade is None


def test_switching_protocols_hands_back_the_trailing_bytes() -> None:
    conn = ServerConnection()
    conn.receive_data(UPGRADE + b"\r\n\x81\x80")
    assert type(conn.next_event()) is Request
    assert type(conn.next_event()) is EndOfMessage
    conn.receive_data(b"more")
    head, trailing = conn.send_switching_protocols([(b"upgrade", b"websocket")])
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    )
    assert trailing == b"\x81\x80more"
    assert (conn.our_state, conn.their_state) == (State.SWITCHED_PROTOCOL,) * 2
    assert conn.keep_alive is False
    assert conn.buffered_size == 0
    conn.receive_data(b"ignored")  # the new protocol's: the engine reads no more
    assert conn.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_switching_protocols([])


def test_switching_protocols_byte_at_a_time() -> None:
    conn = ServerConnection()
    for byte in UPGRADE + b"\r\nab":
        conn.receive_data(bytes([byte]))
        event = conn.next_event()
        if type(event) is Request:
            assert type(conn.next_event()) is EndOfMessage
    assert conn.send_switching_protocols([])[1] == b"ab"


def test_switching_protocols_needs_an_upgrade_request() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError, match="did not ask to upgrade"):
        conn.send_switching_protocols([])  # no request yet
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="did not ask to upgrade"):
        conn.send_switching_protocols([])


def test_switching_protocols_needs_the_complete_request_and_no_response() -> None:
    conn = ServerConnection()
    conn.receive_data(UPGRADE + b"\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="cannot switch protocols now"):
        conn.send_switching_protocols([])  # the EndOfMessage is not read yet
    conn.next_event()
    conn.send_response(426, [], body=b"", end=True)
    with pytest.raises(LocalProtocolError, match="cannot switch protocols now"):
        conn.send_switching_protocols([])
