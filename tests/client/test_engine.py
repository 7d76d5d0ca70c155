"""The client role of the engine, without sockets: whole and byte at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ferry import LocalProtocolError, RemoteProtocolError
from ferry.http1 import (
    NEED_DATA,
    PAUSED,
    ClientConnection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Limits,
    Response,
    State,
)

HOST = [(b"Host", b"example.com")]


def sent(
    method: bytes = b"GET", headers: list[tuple[bytes, bytes]] | None = None
) -> ClientConnection:
    conn = ClientConnection()
    conn.send_request(method, b"/", headers or HOST, end=True)
    return conn


def drain(conn: ClientConnection, out: list[Event]) -> None:
    """Append events until NEED_DATA or PAUSED, merging Data pieces (their split varies)."""
    while (event := conn.next_event()) not in (NEED_DATA, PAUSED):
        assert not isinstance(event, type(NEED_DATA))
        if out and type(event) is Data and type(out[-1]) is Data:
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)


def events(conn: ClientConnection, data: bytes, *, eof: bool = False) -> list[Event]:
    """Feed ``data`` whole (then the EOF, if ``eof``) and return the events."""
    conn.receive_data(data)
    if eof:
        conn.receive_eof()
    out: list[Event] = []
    drain(conn, out)
    return out


def events_bytewise(conn: ClientConnection, data: bytes, *, eof: bool = False) -> list[Event]:
    """Feed ``data`` one byte at a time, draining events after each."""
    out: list[Event] = []
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
        drain(conn, out)
    if eof:
        conn.receive_eof()
    drain(conn, out)
    return out


Feed = Callable[..., list[Event]]
FEEDERS = [pytest.param(events, id="whole"), pytest.param(events_bytewise, id="bytewise")]

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nServer-Timing: app;dur=1\r\n\r\n"
)


@pytest.mark.parametrize("feed", FEEDERS)
@pytest.mark.parametrize(
    ("method", "raw", "eof", "expected", "keep_alive"),
    [
        (
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            False,
            [Response(200, b"OK", "1.1", [(b"content-length", b"5")]), Data(b"hello")],
            True,
        ),
        (
            b"GET",
            CHUNKED,
            False,
            [
                Response(200, b"OK", "1.1", [(b"transfer-encoding", b"chunked")]),
                Data(b"hello!"),
            ],
            True,
        ),
        (  # RFC 9112 §6.3 (8): no length: the body ends with the connection
            b"GET",
            b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end",
            True,
            [Response(200, b"OK", "1.0", [(b"server", b"x")]), Data(b"until the end")],
            False,
        ),
        (  # RFC 9112 §6.3 (1): HEAD, 204 and 304 end with the head
            b"HEAD",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            False,
            [Response(200, b"OK", "1.1", [(b"content-length", b"5")])],
            True,
        ),
        (
            b"GET",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            False,
            [Response(204, b"No Content", "1.1", [])],
            True,
        ),
        (
            b"GET",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            False,
            [Response(304, b"Not Modified", "1.1", [(b"content-length", b"10")])],
            True,
        ),
        (  # RFC 9112 §6.3 (2): a 2xx to CONNECT opens a tunnel: no body, no reuse
            b"CONNECT",
            b"HTTP/1.1 200 Connection Established\r\n\r\n",
            False,
            [Response(200, b"Connection Established", "1.1", [])],
            False,
        ),
        (  # 1xx heads come first, as their own events
            b"GET",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            False,
            [
                InformationalResponse(100, b"Continue", "1.1", []),
                InformationalResponse(103, b"Early Hints", "1.1", [(b"link", b"</a>")]),
                Response(200, b"OK", "1.1", [(b"content-length", b"0")]),
            ],
            True,
        ),
        (  # RFC 9112 §9.3: HTTP/1.0 persists only with keep-alive
            b"GET",
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            False,
            [
                Response(
                    200,
                    b"OK",
                    "1.0",
                    [(b"connection", b"keep-alive"), (b"content-length", b"0")],
                )
            ],
            True,
        ),
        (
            b"GET",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            False,
            [Response(200, b"OK", "1.1", [(b"connection", b"close"), (b"content-length", b"0")])],
            False,
        ),
        (  # no reason phrase, and no SP before it (picohttpparser, llhttp accept it)
            b"GET",
            b"HTTP/1.1 204\r\n\r\n",
            False,
            [Response(204, b"", "1.1", [])],
            True,
        ),
    ],
)
def test_framing(
    feed: Feed,
    method: bytes,
    raw: bytes,
    eof: bool,
    expected: list[Event],
    keep_alive: bool,
) -> None:
    conn = sent(method)
    got = feed(conn, raw, eof=eof)
    trailers = [(b"server-timing", b"app;dur=1")] if raw == CHUNKED else []
    assert got == [*expected, EndOfMessage(trailers)]
    assert conn.keep_alive is keep_alive
    assert conn.their_state is (State.DONE if keep_alive else State.MUST_CLOSE)
    assert conn.next_event() is PAUSED


@pytest.mark.parametrize("feed", FEEDERS)
@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",  # bare LF
        b"HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n",  # bare CR
        b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",  # obs-fold
        b"HTTP/1.1 200 OK\r\nA : 1\r\n\r\n",  # space before the colon
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 600 Nope\r\n\r\n",
        b"HTTP/1.1 099 Nope\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
        b"\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",  # more empty lines than tolerated
    ],
)
def test_rejected(feed: Feed, raw: bytes) -> None:
    conn = sent()
    with pytest.raises(RemoteProtocolError):
        feed(conn, raw)
    assert conn.their_state is State.ERROR
    assert not conn.keep_alive
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


@pytest.mark.parametrize(
    "raw",
    [b"HTTP/1.1 200 OK\r\n Folded", b"RTSP/1.0", b"HTTP/1.1 200 OK\r\nA\x00", b"HTTP/1.1 2x"],
)
def test_incomplete_head_fails_before_it_ends(raw: bytes) -> None:
    """No continuation can make these valid: refused without waiting for more bytes."""
    with pytest.raises(RemoteProtocolError):
        events(sent(), raw)


def test_head_size_limit() -> None:
    conn = sent()
    with pytest.raises(RemoteProtocolError) as info:
        events(conn, b"HTTP/1.1 200 OK\r\nA: " + b"x" * 70000)
    assert info.value.status == 431


def test_close_before_any_response_byte_is_connection_closed() -> None:
    """RFC 9112 §9.3.1: the retryable case is told apart from a truncated response."""
    conn = sent()
    assert events(conn, b"", eof=True) == [ConnectionClosed()]
    assert conn.their_state is State.CLOSED
    assert not conn.keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",  # a 1xx is a response byte: not retryable
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    ],
)
def test_close_inside_a_response_is_an_error(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        events(sent(), raw, eof=True)


def test_idle_connection_closed_by_the_server() -> None:
    conn = ClientConnection()
    conn.receive_eof()
    assert conn.next_event() == ConnectionClosed()


def test_bytes_before_any_request_are_an_error() -> None:
    conn = ClientConnection()
    conn.receive_data(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_keep_alive_cycles() -> None:
    conn = ClientConnection()
    for _ in range(3):
        assert conn.send_request(b"GET", b"/a?b", HOST, end=True) == (
            b"GET /a?b HTTP/1.1\r\nHost: example.com\r\n\r\n"
        )
        got = events(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assert got[1:] == [Data(b"ok"), EndOfMessage()]
        conn.start_next_cycle()
        assert (conn.our_state, conn.their_state) == (State.IDLE, State.IDLE)


def test_response_before_the_request_body_ends() -> None:
    """An early response (413) may come while we still send; no new cycle can start."""
    conn = ClientConnection()
    conn.send_request(b"POST", b"/", [*HOST, (b"Content-Length", b"10")])
    got = events(conn, b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
    assert got[-1] == EndOfMessage()
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_request_with_connection_close_is_not_reused() -> None:
    conn = sent(headers=[*HOST, (b"Connection", b"close")])
    events(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert not conn.keep_alive
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


# -- the request side ----------------------------------------------------------------


def test_whole_body_gets_content_length() -> None:
    conn = ClientConnection()
    out = conn.send_request(b"POST", b"/", HOST, body=b"abc", end=True)
    assert out == b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
    assert conn.our_state is State.DONE


@pytest.mark.parametrize(
    ("method", "head"),
    [
        (b"POST", b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n"),
        (b"GET", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),  # RFC 9110 §8.6
    ],
)
def test_empty_body(method: bytes, head: bytes) -> None:
    assert ClientConnection().send_request(method, b"/", HOST, end=True) == head


def test_streamed_body_is_chunked() -> None:
    conn = ClientConnection()
    out = conn.send_request(b"PUT", b"/f", HOST)
    out += conn.send_data(b"hello") + conn.send_data(b"") + conn.send_end([(b"X-Sum", b"1")])
    assert out == (
        b"PUT /f HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"
    )


def test_declared_content_length_is_enforced() -> None:
    conn = ClientConnection()
    out = conn.send_request(b"PUT", b"/f", [*HOST, (b"Content-Length", b"4")])
    out += conn.send_data(b"ab")
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    out += conn.send_data(b"cd") + conn.send_end()
    assert out == b"PUT /f HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nabcd"
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        (b"GE T", b"/", HOST),
        (b"GET", b"/a b", HOST),
        (b"GET", b"/\r\n", HOST),
        (b"GET", b"/", []),  # RFC 9112 §3.2: Host is required
        (b"GET", b"/", [*HOST, *HOST]),
        (b"GET", b"/", [*HOST, (b"X", b"a\r\nInjected: 1")]),
        (b"GET", b"/", [*HOST, (b"Bad Name", b"1")]),
        (b"GET", b"/", [*HOST, (b"X", [b"1"])]),  # not bytes, and unhashable: not cached
        (b"POST", b"/", [*HOST, (b"Content-Length", b"1"), (b"Transfer-Encoding", b"chunked")]),
        (b"POST", b"/", [*HOST, (b"Transfer-Encoding", b"gzip")]),
        (b"POST", b"/", [*HOST, (b"Content-Length", b"-1")]),
    ],
)
def test_invalid_requests_are_refused_unchanged(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    conn = ClientConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_request(method, target, headers, end=True)
    assert conn.our_state is State.IDLE
    conn.send_request(b"GET", b"/", HOST, end=True)  # still usable


def test_one_request_at_a_time() -> None:
    conn = sent()
    with pytest.raises(LocalProtocolError):
        conn.send_request(b"GET", b"/", HOST, end=True)


def test_caller_framing_fields_are_kept() -> None:
    conn = ClientConnection()
    head = [*HOST, (b"Transfer-Encoding", b"chunked"), (b"Accept", b"*/*")]
    out = conn.send_request(b"POST", b"/", head, body=b"ab", end=True)
    assert out == (
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
        b"Accept: */*\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    )


def test_body_longer_than_content_length() -> None:
    conn = ClientConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_request(b"PUT", b"/", [*HOST, (b"Content-Length", b"2")], body=b"abc")
    conn.send_request(b"PUT", b"/", [*HOST, (b"Content-Length", b"2")])
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"abc")


def test_nothing_to_send_after_the_end() -> None:
    conn = sent()
    with pytest.raises(LocalProtocolError):
        conn.send_end()


def test_tunnel_bytes_are_left_for_the_caller() -> None:
    conn = ClientConnection()
    conn.send_request(b"CONNECT", b"example.com:443", HOST, end=True)
    events(conn, b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01")
    assert conn.trailing_data == b"\x16\x03\x01"


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        (b"HTTP/1.1 200 OK\r\nA: " + b"x" * 300 + b"\r\n\r\n", Limits(max_head_size=256)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1" + b"0" * 18 + b"\r\n\r\n", Limits()),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", Limits(max_body_size=10)),
    ],
)
def test_limits(raw: bytes, limit: Limits) -> None:
    conn = ClientConnection(limit)
    conn.send_request(b"GET", b"/", HOST, end=True)
    with pytest.raises(RemoteProtocolError):
        events(conn, raw)
