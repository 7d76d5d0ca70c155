"""Contracts of the engine's smaller pieces, tested on their own."""

from __future__ import annotations

import pytest

from ferry import LocalProtocolError, RemoteProtocolError
from ferry.http1 import (
    NEED_DATA,
    ClientConnection,
    Data,
    EndOfMessage,
    Request,
    ServerConnection,
    State,
)
from ferry.http1._body import CloseDelimitedReader
from ferry.http1._scan import bare_line_break
from ferry.http1._state import BODY_ENDED, HEAD_SENT, NEXT_CYCLE, Step, advance

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


def test_the_state_table_refuses_a_transition_it_does_not_list() -> None:
    assert advance(State.IDLE, Step.HEAD) is State.SEND_BODY
    assert advance(State.SEND_BODY, Step.FAIL) is State.ERROR
    assert advance(State.DONE, Step.CLOSE) is State.CLOSED
    with pytest.raises(LocalProtocolError, match="cannot END in state IDLE"):
        advance(State.IDLE, Step.END)


def test_the_per_request_transitions_come_from_the_table() -> None:
    assert HEAD_SENT is advance(State.IDLE, Step.HEAD) is State.SEND_BODY
    assert BODY_ENDED is advance(State.SEND_BODY, Step.END) is State.DONE
    assert NEXT_CYCLE is advance(State.DONE, Step.NEXT_CYCLE) is State.IDLE


@pytest.mark.parametrize("conn", [ServerConnection(), ClientConnection()])
def test_keep_alive_is_read_only_outside_the_engine(
    conn: ServerConnection | ClientConnection,
) -> None:
    assert conn.keep_alive is True
    with pytest.raises(AttributeError):
        conn.keep_alive = False  # type: ignore[misc]
    assert conn.keep_alive is True


def test_close_after_response_is_the_servers_way_to_end_keep_alive() -> None:
    conn = ServerConnection()
    conn.receive_data(GET)
    assert type(conn.next_event()) is Request
    conn.close_after_response()
    assert conn.keep_alive is False
    assert conn.send_response(204, [], end=True).endswith(b"\r\nConnection: close\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_close_delimited_reader_ends_at_eof() -> None:
    reader = CloseDelimitedReader()
    assert reader.read(b"abc", 1, False) == (Data(b"bc"), 3)
    assert reader.read(b"abc", 3, False) == (NEED_DATA, 3)
    assert reader.read(b"abc", 3, True) == (EndOfMessage(), 3)


@pytest.mark.parametrize(
    ("data", "bare"),
    [
        (b"", False),
        (b"a\r\nb\r\n", False),
        (b"a\r", False),  # its LF may come next
        (b"a\n", True),
        (b"\r\r\n", True),
        (b"a\rb", True),
    ],
)
def test_bare_line_break(data: bytes, bare: bool) -> None:
    assert bare_line_break(data, 0, len(data)) is bare


def test_pending_input_and_buffered_size() -> None:
    conn = ServerConnection()
    assert not conn.has_pending_input
    assert conn.buffered_size == 0
    conn.receive_data(b"GET / HTTP/1.1\r\n")
    assert conn.has_pending_input
    assert conn.next_event() is NEED_DATA
    assert conn.buffered_size == 16
    assert conn.request is None
    conn.receive_data(b"Host: h\r\n\r\n")
    request = conn.next_event()
    assert type(request) is Request
    assert conn.request is request
    assert conn.has_pending_input  # the end of the message is still to be reported


def test_no_next_cycle_after_a_response_to_no_request() -> None:
    conn = ServerConnection()
    conn.send_response(408, [], body=b"", end=True)  # e.g. a timeout before any request
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_a_closed_connection_stays_paused() -> None:
    conn = ServerConnection()
    conn.receive_eof()
    conn.next_event()  # ConnectionClosed
    assert conn.their_state is State.CLOSED
    assert conn.next_event().name == "PAUSED"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b" folded", "obsolete line folding"),
        (b"\tfolded", "obsolete line folding"),
        (b"\rX: a", "bare CR or LF"),
        (b"X: a\rb", "bare CR or LF"),
        (b"X: a\nY: b", "bare CR or LF"),
        (b"no colon", "without a colon"),
        (b"X : a", "whitespace between header field name and colon"),
        (b"X\t: a", "whitespace between header field name and colon"),
        (b"X(y): a", "not a token"),
        (b"X: \x01", "control character"),
    ],
)
def test_the_error_names_the_bad_field_line(line: bytes, message: str) -> None:
    for data in (  # the whole head at once, and the head still incomplete
        b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n",
    ):
        conn = ServerConnection()
        conn.receive_data(data)
        with pytest.raises(RemoteProtocolError, match=message):
            conn.next_event()
