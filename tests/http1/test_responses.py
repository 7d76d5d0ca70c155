"""Response bytes, exactly: framing, persistence, the fields Ferry adds, and misuse."""

from __future__ import annotations

import pytest

from ferry import LocalProtocolError
from ferry.http1 import (
    NEED_DATA,
    PAUSED,
    EndOfMessage,
    Request,
    ResponseSettings,
    ServerConnection,
    State,
)
from ferry.http1._caches import response_head_cache

from ..support import FIXED_TIME

DATE = b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
ADDED = DATE + b"Server: ferry\r\n"
GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
GET_10 = b"GET / HTTP/1.0\r\n\r\n"
GET_10_KEEP = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
GET_KEEP = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"


def receive(data: bytes, conn: ServerConnection | None = None) -> ServerConnection:
    """A connection that has read ``data`` as far as it can."""
    conn = conn or ServerConnection()
    conn.receive_data(data)
    while conn.next_event() not in (NEED_DATA, PAUSED):
        pass
    return conn


# -- framing ----------------------------------------------------------------------------


def test_whole_body_gets_a_content_length() -> None:
    conn = receive(GET)
    out = conn.send_response(200, [(b"X-A", b"1")], body=b"hello", end=True)
    assert out == (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n" + ADDED + b"Content-Length: 5\r\n\r\nhello")
    assert conn.our_state is State.DONE
    assert conn.keep_alive


def test_streamed_body_is_chunked() -> None:
    conn = receive(GET)
    assert conn.send_response(200, []) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert conn.send_data(b"hello world, ") == b"d\r\nhello world, \r\n"
    assert conn.send_data(b"") == b""  # an empty chunk would end the body
    assert conn.send_data(b"bye") == b"3\r\nbye\r\n"
    assert conn.send_end() == b"0\r\n\r\n"
    assert conn.our_state is State.DONE


def test_chunked_response_carries_trailers() -> None:
    conn = receive(GET)
    conn.send_response(200, [], body=b"abc")
    assert conn.send_end([(b"X-Checksum", b"900150983cd24fb0")]) == (
        b"0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n"
    )


def test_trailers_are_dropped_without_chunked_framing() -> None:
    conn = receive(GET)
    conn.send_response(200, [(b"content-length", b"1")], body=b"a")
    assert conn.send_end([(b"x-checksum", b"1")]) == b""


def test_streamed_body_with_the_applications_content_length() -> None:
    conn = receive(GET)
    head = conn.send_response(200, [(b"Content-Length", b" 6 ")])
    assert head == (b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 6\r\n\r\n")
    assert conn.send_data(b"abc") + conn.send_data(b"def") == b"abcdef"
    assert conn.send_end() == b""


def test_head_response_has_the_length_but_no_body() -> None:
    conn = receive(HEAD)
    assert conn.send_response(200, [], body=b"hello", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 5\r\n\r\n"
    )


def test_streamed_head_response_has_no_framing_and_no_body() -> None:
    conn = receive(HEAD)
    assert conn.send_response(200, []) == (b"HTTP/1.1 200 OK\r\n" + ADDED + b"\r\n")
    assert conn.send_data(b"ignored") == b""
    assert conn.send_end() == b""


def test_204_has_no_content_length_and_no_body() -> None:
    conn = receive(GET)
    assert conn.send_response(204, [(b"content-length", b"0")], body=b"", end=True) == (
        b"HTTP/1.1 204 No Content\r\n" + ADDED + b"\r\n"
    )


def test_304_keeps_the_representations_length_and_sends_no_body() -> None:
    conn = receive(GET)
    assert conn.send_response(304, [(b"content-length", b"1234")]) == (
        b"HTTP/1.1 304 Not Modified\r\n" + ADDED + b"Content-Length: 1234\r\n\r\n"
    )
    assert conn.send_data(b"x") == b""
    assert conn.send_end() == b""


def test_http10_body_of_unknown_length_is_close_delimited() -> None:
    conn = receive(GET_10_KEEP)
    assert conn.send_response(200, []) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Connection: close\r\n\r\n"
    )
    assert conn.send_data(b"abc") == b"abc"
    assert conn.send_end() == b""
    assert not conn.keep_alive


def test_http10_without_keep_alive_closes() -> None:
    conn = receive(GET_10)
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\nConnection: close\r\n\r\nx"
    )
    assert not conn.keep_alive
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_http10_keep_alive_is_echoed_and_honoured() -> None:
    conn = receive(GET_10_KEEP)
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\nConnection: keep-alive\r\n"
        b"Keep-Alive: timeout=5\r\n\r\nx"
    )
    conn.start_next_cycle()
    conn.receive_data(GET_10_KEEP)
    assert type(conn.next_event()) is Request


# -- the Keep-Alive field: only for a client that asked for keep-alive ---------------------


def test_http11_without_connection_gets_no_keep_alive_field() -> None:
    conn = receive(GET)
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\n\r\nx"
    )
    assert conn.keep_alive


@pytest.mark.parametrize("connection", [b"keep-alive", b"TE, Keep-Alive", b"KEEP-ALIVE"])
def test_http11_asking_for_keep_alive_gets_the_timeout(connection: bytes) -> None:
    conn = receive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: %s\r\n\r\n" % connection)
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\nKeep-Alive: timeout=5\r\n\r\nx"
    )
    assert conn.keep_alive


def test_http11_other_connection_options_get_no_keep_alive_field() -> None:
    conn = receive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nTE: trailers\r\n\r\n")
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\n\r\nx"
    )


def test_connection_close_gets_no_keep_alive_field() -> None:
    for request in (
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n",
    ):
        conn = receive(request)
        assert conn.send_response(200, [], body=b"x", end=True) == (
            b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\nConnection: close\r\n\r\nx"
        )


def test_a_closing_response_to_a_keep_alive_request_gets_no_keep_alive_field() -> None:
    conn = receive(GET_KEEP)
    conn.close_after_response()
    assert conn.send_response(200, [], body=b"x", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 1\r\nConnection: close\r\n\r\nx"
    )


@pytest.mark.parametrize("fields", [((b"x-a", b"1"),), [(b"x-a", b"1")]])
def test_cached_heads_tell_keep_alive_requests_apart(
    fields: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]],
) -> None:
    # The same fields, answered to requests that did and did not ask: the cached head of
    # one is never the other's (by identity for a tuple, by value for a list).
    settings = ResponseSettings()
    plain = b"HTTP/1.1 200 OK\r\nx-a: 1\r\n" + ADDED + b"Content-Length: 1\r\n\r\nx"
    asked = plain.replace(b"\r\n\r\n", b"\r\nKeep-Alive: timeout=5\r\n\r\n")
    for request, expected in ((GET, plain), (GET_KEEP, asked), (GET, plain), (GET_KEEP, asked)):
        conn = receive(request, ServerConnection(settings=settings))
        assert conn.send_response(200, fields, body=b"x", end=True) == expected


# -- fields Ferry adds ------------------------------------------------------------------


def test_keep_alive_timeout_and_server_come_from_the_settings() -> None:
    settings = ResponseSettings(server_header=b"edge/2", keep_alive_timeout=30)
    conn = receive(GET_KEEP, ServerConnection(settings=settings))
    assert conn.send_response(200, [], body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + DATE + b"Server: edge/2\r\nContent-Length: 0\r\n"
        b"Keep-Alive: timeout=30\r\n\r\n"
    )


def test_no_server_and_no_keep_alive_field_when_unset() -> None:
    settings = ResponseSettings(server_header=None, keep_alive_timeout=None)
    conn = receive(GET_KEEP, ServerConnection(settings=settings))
    assert conn.send_response(200, [], body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + DATE + b"Content-Length: 0\r\n\r\n"
    )


def test_applications_date_and_server_replace_ours() -> None:
    conn = receive(GET)
    fields = [(b"Server", b"app"), (b"date", b"Mon, 01 Jan 2024 00:00:00 GMT")]
    assert conn.send_response(200, fields, body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\nServer: app\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


def test_applications_connection_close_is_honoured() -> None:
    conn = receive(GET)
    fields = [(b"Connection", b"Close"), (b"Keep-Alive", b"timeout=99")]
    assert conn.send_response(200, fields, body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert not conn.keep_alive


def test_applications_chunked_wins_over_a_known_length() -> None:
    conn = receive(GET)
    out = conn.send_response(200, [(b"transfer-encoding", b"chunked")], body=b"ab", end=True)
    assert out == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    )


def test_max_requests_closes_after_the_last_one() -> None:
    conn = receive(GET, ServerConnection(max_requests=2))
    assert conn.send_response(200, [], body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 0\r\n\r\n"
    )
    conn.start_next_cycle()
    receive(GET, conn)
    assert conn.requests_received == 2
    assert conn.send_response(200, [], body=b"", end=True) == (
        b"HTTP/1.1 200 OK\r\n" + ADDED + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert not conn.keep_alive


def test_request_connection_close_is_honoured() -> None:
    conn = receive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n")
    assert conn.send_response(200, [], body=b"", end=True).endswith(b"Connection: close\r\n\r\n")


def test_preview_is_the_head_send_response_renders() -> None:
    conn = receive(GET)
    preview = conn.preview_response_head(200, [(b"x", b"y")])
    assert conn.our_state is State.IDLE
    assert conn.send_response(200, [(b"x", b"y")]) == preview


# -- what an application may not do ----------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        (b"x-a", b"one\r\nSet-Cookie: evil=1"),
        (b"x-a", b"one\ntwo"),
        (b"x-a", b"one\rtwo"),
        (b"x-a", b"nul\x00"),
        (b"bad name", b"v"),
        (b"bad:name", b"v"),
        (b"", b"v"),
        (b"x-\xe9", b"v"),
    ],
)
def test_header_injection_is_refused(field: tuple[bytes, bytes]) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError) as error:
        conn.send_response(200, [(b"ok", b"fine"), field])
    assert error.value.status == 500
    assert conn.our_state is State.IDLE  # nothing was sent: a 500 can still go out
    with pytest.raises(LocalProtocolError):
        conn.send_informational(103, [field])
    conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_end([field])


@pytest.mark.parametrize("fields", [[(b"x", "text")], [(b"x",)], [None]])
def test_fields_that_are_not_byte_pairs_are_refused(fields: list[object]) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [b"-1", b"1e3", b"", b"0x10"])
def test_invalid_application_content_length(value: bytes) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [(b"content-length", value)])


def test_conflicting_application_content_lengths() -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [(b"content-length", b"1"), (b"content-length", b"2")])
    assert conn.send_response(
        200, [(b"content-length", b"1"), (b"content-length", b"1")], body=b"a", end=True
    ).endswith(b"Content-Length: 1\r\n\r\na")


def test_body_longer_than_content_length() -> None:
    conn = receive(GET)
    conn.send_response(200, [(b"content-length", b"3")], body=b"ab")
    with pytest.raises(LocalProtocolError, match="longer"):
        conn.send_data(b"cd")


def test_body_shorter_than_content_length() -> None:
    conn = receive(GET)
    conn.send_response(200, [(b"content-length", b"3")], body=b"ab")
    with pytest.raises(LocalProtocolError, match="shorter"):
        conn.send_end()


@pytest.mark.parametrize(
    ("body", "end", "problem"),
    [(b"abcd", True, "longer"), (b"abcd", False, "longer"), (b"ab", True, "shorter")],
)
def test_body_not_fitting_content_length_leaves_the_response_unstarted(
    body: bytes, end: bool, problem: str
) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError, match=problem):
        conn.send_response(200, [(b"content-length", b"3")], body=body, end=end)
    assert conn.our_state is State.IDLE  # the server can still answer 500
    assert conn.send_response(500, [], body=b"", end=True).startswith(
        b"HTTP/1.1 500 Internal Server Error\r\n"
    )


@pytest.mark.parametrize("status", [99, 100, 199, 600, "200", 200.0])
def test_invalid_final_status(status: object) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_response(status, [])  # type: ignore[arg-type]


def test_calls_out_of_order() -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()
    conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()  # the response is not complete
    conn.send_end()
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")


def test_next_cycle_needs_the_whole_request_or_a_drain() -> None:
    conn = receive(GET)
    conn.send_response(200, [], body=b"", end=True)
    conn.start_next_cycle()
    assert conn.our_state is conn.their_state is State.IDLE
    assert conn.request is None


# -- 1xx --------------------------------------------------------------------------------

EXPECTING = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n"


def test_100_continue_once_when_the_client_expects_it() -> None:
    conn = receive(EXPECTING)
    assert conn.request is not None
    assert conn.request.expect_continue
    assert conn.send_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert conn.send_continue() == b""


@pytest.mark.parametrize(
    "data",
    [
        GET,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
        b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        EXPECTING + b"hello",  # the body is already here
    ],
)
def test_no_100_continue_unless_expected(data: bytes) -> None:
    assert receive(data).send_continue() == b""


def test_no_100_continue_before_a_request_or_after_the_response() -> None:
    assert ServerConnection().send_continue() == b""
    conn = receive(EXPECTING)
    conn.send_response(417, [], body=b"", end=True)
    assert conn.send_continue() == b""


def test_informational_response() -> None:
    conn = receive(GET)
    assert conn.send_informational(103, [(b"Link", b"</s.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    )


def test_no_1xx_to_an_http10_client() -> None:
    assert receive(GET_10).send_informational(103, [(b"link", b"</a>")]) == b""
    assert ServerConnection().send_informational(103, []) == b""


@pytest.mark.parametrize("status", [101, 200, 99, "103"])
def test_invalid_informational_status(status: object) -> None:
    conn = receive(GET)
    with pytest.raises(LocalProtocolError):
        conn.send_informational(status, [])  # type: ignore[arg-type]


def test_no_1xx_after_the_final_response_started() -> None:
    conn = receive(GET)
    conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_informational(103, [])


# -- an unread request body -------------------------------------------------------------


def test_unread_body_is_drained_to_reach_the_next_request() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123")
    assert type(conn.next_event()) is Request
    assert conn.send_response(200, [], body=b"", end=True).endswith(b"Content-Length: 0\r\n\r\n")
    conn.start_next_cycle()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"456789" + GET)
    request = conn.next_event()
    assert type(request) is Request
    assert request.method == b"GET"
    assert type(conn.next_event()) is EndOfMessage


def test_unread_chunked_body_is_drained() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert type(conn.next_event()) is Request
    conn.send_response(200, [], body=b"", end=True)
    conn.start_next_cycle()
    conn.receive_data(b"3\r\nabc\r\n0\r\n\r\n" + GET)
    request = conn.next_event()
    assert type(request) is Request
    assert request.method == b"GET"


def test_body_beyond_max_drain_closes_the_connection() -> None:
    conn = ServerConnection(max_drain=5)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
    assert type(conn.next_event()) is Request
    out = conn.send_response(200, [], body=b"", end=True)
    assert out.endswith(b"Connection: close\r\n\r\n")
    assert not conn.keep_alive


def test_chunked_body_beyond_max_drain_closes_the_connection() -> None:
    conn = ServerConnection(max_drain=5)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert type(conn.next_event()) is Request
    # A chunked body's length is unknown: the response still offers keep-alive...
    assert conn.send_response(200, [], body=b"", end=True).endswith(b"Content-Length: 0\r\n\r\n")
    conn.start_next_cycle()
    conn.receive_data(b"a\r\n0123456789\r\n0\r\n\r\n" + GET)
    # ...and the drain stops at max_drain: the connection ends instead.
    assert conn.next_event() is PAUSED
    assert not conn.keep_alive


def test_no_drain_when_the_client_waits_for_100_continue() -> None:
    conn = receive(EXPECTING)
    out = conn.send_response(417, [], body=b"", end=True)
    assert out.endswith(b"Connection: close\r\n\r\n")  # the body may never come


# -- the head cache -------------------------------------------------------------------------


def _render(settings: ResponseSettings, fields: list[tuple[bytes, bytes]]) -> bytes:
    conn = receive(GET, ServerConnection(settings=settings))
    return conn.send_response(200, fields, body=b"hi", end=True)


def test_a_cached_head_still_gets_the_date_of_its_second(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ResponseSettings()
    fields = [(b"content-type", b"text/plain")]
    first = _render(settings, fields)
    later = b"Date: Thu, 01 Jan 2026 00:00:01 GMT\r\n"
    monkeypatch.setattr("ferry.http1._date.clock", lambda: FIXED_TIME + 1)
    assert _render(settings, fields) == first.replace(DATE, later)
    assert len(response_head_cache(settings).by_value) == 1


def test_fields_given_as_lists_render_the_same_and_are_not_cached() -> None:
    settings = ResponseSettings()
    as_lists = _render(settings, [[b"x-a", b"1"]])  # type: ignore[list-item]
    assert response_head_cache(settings).by_value == {}
    assert as_lists == _render(ResponseSettings(), [(b"x-a", b"1")])


def test_an_invalid_head_is_refused_every_time_and_never_cached() -> None:
    settings = ResponseSettings()
    for _ in range(2):
        conn = receive(GET, ServerConnection(settings=settings))
        with pytest.raises(LocalProtocolError):
            conn.send_response(200, [(b"x-a", b"1\r\nx-b: 2")], body=b"", end=True)
    assert response_head_cache(settings).by_value == {}


def test_the_head_cache_is_bounded() -> None:
    settings = ResponseSettings()
    for n in range(600):
        assert _render(settings, [(b"x-n", b"%d" % n)]).startswith(b"HTTP/1.1 200 OK\r\nx-n: ")
        assert len(response_head_cache(settings).by_value) <= 256


# -- heads of immutable field tuples, found by identity ----------------------------------


def _render_any(settings: ResponseSettings, fields: object) -> bytes:
    conn = receive(GET, ServerConnection(settings=settings))
    return conn.send_response(200, fields, body=b"hi", end=True)  # type: ignore[arg-type]


def test_a_tuple_of_field_tuples_is_found_by_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ResponseSettings()
    fields = ((b"content-type", b"text/plain"), (b"x-a", b"1"))
    first = _render_any(settings, fields)
    assert first == _render(ResponseSettings(), list(fields))  # the same bytes as a list's
    [(held, _)] = response_head_cache(settings).by_identity.values()
    assert held is fields
    later = b"Date: Thu, 01 Jan 2026 00:00:01 GMT\r\n"
    monkeypatch.setattr("ferry.http1._date.clock", lambda: FIXED_TIME + 1)
    assert _render_any(settings, fields) == first.replace(DATE, later)  # a fresh Date
    assert len(response_head_cache(settings).by_identity) == 1


def test_an_equal_tuple_elsewhere_gets_its_own_entry_and_the_same_head() -> None:
    settings = ResponseSettings()
    first = _render_any(settings, ((b"x-a", b"1"),))
    assert _render_any(settings, tuple([(b"x-a", b"1")])) == first
    assert len(response_head_cache(settings).by_value) == 1  # rendered once, by value


def test_an_entry_whose_tuple_is_another_object_is_not_used() -> None:
    """An id is only unique among live objects: the entry must hold the very tuple."""
    settings = ResponseSettings()
    other = ((b"x-b", b"2"),)
    _render_any(settings, other)
    [(key, entry)] = response_head_cache(settings).by_identity.items()
    fields = ((b"x-a", b"1"),)
    # as if fields had other's id:
    response_head_cache(settings).by_identity[(id(fields), *key[1:])] = entry
    assert b"\r\nx-a: 1\r\n" in _render_any(settings, fields)
    assert response_head_cache(settings).by_identity[(id(fields), *key[1:])][0] is fields


def test_a_tuple_holding_lists_is_never_found_by_identity() -> None:
    settings = ResponseSettings()
    field = [b"x-a", b"1"]
    fields = (field,)
    assert b"\r\nx-a: 1\r\n" in _render_any(settings, fields)
    field[1] = b"2"  # a list can change: the head must follow it
    assert b"\r\nx-a: 2\r\n" in _render_any(settings, fields)
    assert response_head_cache(settings).by_identity == {}


def test_an_invalid_tuple_is_refused_every_time_and_never_cached() -> None:
    settings = ResponseSettings()
    for _ in range(2):
        with pytest.raises(LocalProtocolError):
            _render_any(settings, ((b"x-a", b"1\r\nx-b: 2"),))
    assert response_head_cache(settings).by_identity == {}


def test_the_identity_cache_is_bounded() -> None:
    settings = ResponseSettings()
    kept = [((b"x-n", b"%d" % n),) for n in range(600)]
    for fields in kept:
        assert b"\r\nx-n: " in _render_any(settings, fields)
        assert len(response_head_cache(settings).by_identity) <= 256
