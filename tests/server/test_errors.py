"""Failures: every protocol error is answered with its status and ``Connection: close``
without reaching the application; application failures become a 500 while nothing has been
sent, else the connection is aborted; invalid ASGI messages are never put on the wire."""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

import pytest

from ferry import ClientDisconnected
from ferry.asgi import ASGIApp, Message, Receive, Scope, Send

from ..support import serving
from ._helpers import (
    FIXED_DATE,
    Flag,
    Gate,
    Recorder,
    error_response,
    head,
    open_connection,
    text_response,
)

DATE = FIXED_DATE.decode().rstrip()
LIMITS = {
    "max_body_size": 10,
    "max_request_line": 100,
    "max_header_count": 8,
    "max_head_size": 512,
}
MANY_FIELDS = b"".join(b"X-%d: y\r\n" % i for i in range(9))

PROTOCOL_ERRORS = [
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host header field", id="400-no-host"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        "both Transfer-Encoding and Content-Length",
        id="400-smuggling",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
        413,
        "request body larger than the configured maximum",
        id="413",
    ),
    pytest.param(
        b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        414,
        "request line too long",
        id="414",
    ),
    pytest.param(
        b"GET /" + b"a" * 200, 414, "request line too long", id="414-before-the-line-ends"
    ),
    pytest.param(
        b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: bogus\r\n\r\nx",
        417,
        "unsupported expectation",
        id="417",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: t\r\n" + MANY_FIELDS + b"\r\n",
        431,
        "too many header fields",
        id="431-count",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * 600,
        431,
        "request header section too large",
        id="431-size",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        "Not Implemented",
        id="501",
    ),
    pytest.param(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP Version Not Supported", id="505"),
]
REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    414: "URI Too Long",  # RFC 9110 §15.5.15 (not http.HTTPStatus's RFC 7231 phrase)
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


@pytest.mark.parametrize(("request_bytes", "status", "detail"), PROTOCOL_ERRORS)
def test_protocol_errors_are_answered_and_never_reach_the_app(
    loop_name: str, request_bytes: bytes, status: int, detail: str
) -> None:
    app = Recorder()
    with serving(app, loop_name, **LIMITS) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(request_bytes)  # no half-close: the server must close by itself
            received = reader.to_close()
    assert received == error_response(status, REASONS[status], detail)
    assert app.scopes == []


def test_error_after_a_good_request_closes_the_kept_alive_connection(loop_name: str) -> None:
    app = Recorder()
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /fine HTTP/1.1\r\nHost: t\r\n\r\nGET /bad HTTP/1.1\r\n\r\n")
            first = reader.response()
            rest = reader.to_close()
    assert first.endswith(b"\r\nContent-Length: 2\r\n\r\nok")
    assert rest == error_response(400, "Bad Request", "missing Host header field")
    assert [scope["path"] for scope in app.scopes] == ["/fine"]


def test_chunked_body_over_the_limit_is_413_and_the_app_sees_a_disconnect(
    loop_name: str,
) -> None:
    received_by_app: list[Message] = []
    called = Flag()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        called.set()
        while (message := await receive())["type"] != "http.disconnect":
            received_by_app.append(message)
        received_by_app.append(message)

    with serving(app, loop_name, max_body_size=10) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            called.wait()  # the head was good: the app runs
            sock.sendall(b"6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n")
            received = reader.to_close()
    assert received == error_response(
        413, "Content Too Large", "request body larger than the configured maximum"
    )
    # The app was told the request failed; the 6 bytes under the limit may or may not
    # have been handed over before the error.
    assert received_by_app[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in received_by_app) in (b"", b"hello ")


# -- application failures -----------------------------------------------------------------


def failing_app(*steps: Message, then: str = "raise") -> ASGIApp:
    """Sends ``steps``, then raises (``then="raise"``) or returns (``then="return"``)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        for message in steps:
            await send(message)
        if then == "raise":
            raise RuntimeError("boom")

    return app


START: Message = {"type": "http.response.start", "status": 200, "headers": []}
INTERNAL = error_response(500, "Internal Server Error", "Internal Server Error")


def get_once(port: int) -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        return reader.to_close()


@pytest.mark.parametrize(
    "app",
    [
        pytest.param(failing_app(), id="raises-before-start"),
        pytest.param(failing_app(START), id="raises-after-start-before-body"),
        pytest.param(failing_app(then="return"), id="returns-without-response"),
        pytest.param(failing_app(START, then="return"), id="returns-after-start"),
    ],
)
def test_app_failure_before_anything_was_sent_is_500(
    loop_name: str, app: ASGIApp, error_log: list[logging.LogRecord]
) -> None:
    with serving(app, loop_name) as server:
        assert get_once(server.port) == INTERNAL
    assert len(error_log) == 1
    assert error_log[0].levelno == logging.ERROR


def test_app_exception_is_logged_with_its_traceback(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    with serving(failing_app(), loop_name) as server:
        assert get_once(server.port) == INTERNAL
    [record] = error_log
    assert record.getMessage() == "exception in ASGI application"
    assert record.exc_info is not None
    assert repr(record.exc_info[1]) == "RuntimeError('boom')"


@pytest.mark.parametrize("then", ["raise", "return"])
def test_app_failure_after_the_body_started_aborts_the_connection(
    loop_name: str, then: str
) -> None:
    piece: Message = {"type": "http.response.body", "body": b"partial", "more_body": True}
    app = failing_app(START, piece, then=then)
    with serving(app, loop_name) as server:
        received = get_once(server.port)
    # The head and the first chunk went out; no last chunk follows: the client can tell
    # the response is truncated (and the connection is not reused).
    assert received == (
        head(
            "HTTP/1.1 200 OK",
            DATE,
            "Server: ferry",
            "Transfer-Encoding: chunked",
        )
        + b"7\r\npartial\r\n"
    )


BODY: Message = {"type": "http.response.body", "body": b"hello"}


def bad_start(**fields: Any) -> list[Any]:
    """An invalid http.response.start, then a body: the error shows by the body at the latest
    (the head is rendered, and its fields checked, when the first body piece is sent)."""
    return [{"type": "http.response.start", **fields}, BODY]


def bad_header(name: bytes, value: bytes) -> list[Any]:
    return bad_start(status=200, headers=[(b"x-ok", b"1"), (name, value)])


BAD_MESSAGES = [
    pytest.param(bad_start(status="200"), id="status-str"),
    pytest.param(bad_start(status=200.0), id="status-float"),
    pytest.param(bad_start(), id="status-missing"),
    pytest.param(bad_start(status=99), id="status-99"),
    pytest.param(bad_start(status=103), id="status-1xx"),
    pytest.param(bad_start(status=1000), id="status-1000"),
    pytest.param(bad_start(status=200, headers=[("a", "b")]), id="str-header"),
    pytest.param(bad_start(status=200, headers=[(b"a", "b")]), id="str-value"),
    pytest.param(bad_start(status=200, headers=[(b"a", b"b", b"c")]), id="triple-header"),
    pytest.param(bad_start(status=200, headers=[b"ab"]), id="bytes-header"),
    pytest.param(bad_start(status=200, headers=b"x-a: b"), id="headers-bytes"),
    pytest.param(bad_start(status=200, headers=5), id="headers-int"),
    pytest.param(bad_header(b"x-a", b"1\r\nX-Injected: 1"), id="crlf-in-value"),
    pytest.param(bad_header(b"x-a", b"1\nX-Injected: 1"), id="lf-in-value"),
    pytest.param(bad_header(b"x-a", b"1\rX-Injected: 1"), id="cr-in-value"),
    pytest.param(bad_header(b"x-a", b"1\x00"), id="nul-in-value"),
    pytest.param(bad_header(b"X-Injected: 1\r\nx-a", b"1"), id="crlf-in-name"),
    pytest.param(bad_header(b"x a", b"1"), id="space-in-name"),
    pytest.param(bad_header(b"", b"1"), id="empty-name"),
    pytest.param(bad_header(b"content-length", b"x"), id="bad-content-length"),
    pytest.param([BODY], id="body-before-start"),
    pytest.param([START, {"type": "http.response.body", "body": "text"}], id="body-str"),
    pytest.param([START, START], id="start-twice"),
    pytest.param([{"type": "http.response.begin", "status": 200}], id="unknown-type"),
    pytest.param([{"status": 200}], id="no-type"),
    pytest.param(["http.response.start"], id="not-a-dict"),
    pytest.param(
        [START, {"type": "http.response.trailers", "headers": []}], id="unannounced-trailers"
    ),
]


@pytest.mark.parametrize("messages", BAD_MESSAGES)
def test_invalid_asgi_messages_become_500_and_are_never_sent(
    loop_name: str, messages: list[Any]
) -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        try:
            for message in messages:
                await send(message)
        except Exception as exc:
            errors.append(exc)
            raise

    with serving(app, loop_name) as server:
        received = get_once(server.port)
    assert received == INTERNAL  # never the app's head: nothing of it is injected
    assert len(errors) == 1  # the app was told, through an exception from send()


@pytest.mark.parametrize("body", [b"abc", b"abcdefg"], ids=["shorter", "longer"])
def test_body_not_matching_content_length_in_one_message_is_500(
    loop_name: str, body: bytes
) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    app = failing_app(start, {"type": "http.response.body", "body": body}, then="return")
    with serving(app, loop_name) as server:
        assert get_once(server.port) == INTERNAL


def test_streamed_body_past_its_content_length_aborts(loop_name: str) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    first: Message = {"type": "http.response.body", "body": b"abc", "more_body": True}
    app = failing_app(start, first, {"type": "http.response.body", "body": b"def"})
    with serving(app, loop_name) as server:
        received = get_once(server.port)
    # The head and 3 of the 5 promised bytes are out: the client sees a short body, never
    # a sixth byte that would belong to no message.
    fields = (DATE, "Server: ferry", "Content-Length: 5")
    assert received == head("HTTP/1.1 200 OK", *fields) + b"abc"


def test_send_after_a_complete_response_raises(loop_name: str) -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        await send(START)
        await send({"type": "http.response.body", "body": b"done"})
        try:
            await send({"type": "http.response.body", "body": b"more"})
        except Exception as exc:
            raised.append(exc)

    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
            first, second = reader.response(), reader.response()
    assert first == second
    assert first.endswith(b"\r\n\r\ndone")
    assert len(raised) == 2


# -- the client going away ----------------------------------------------------------------


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0): the client is gone, not just done sending."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_disconnect_mid_body_is_delivered_to_the_app(loop_name: str) -> None:
    received: list[Message] = []
    done = Flag()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        while (message := await receive())["type"] != "http.disconnect":
            received.append(message)
        received.append(message)
        done.set()

    with serving(app, loop_name) as server:
        sock, _ = open_connection(server.port)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        sock.close()
        done.wait()
    assert received[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in received) == b"0123456789"
    assert all(m.get("more_body") for m in received[:-1])


def test_disconnect_while_the_app_waits_and_send_then_raises_oserror(loop_name: str) -> None:
    # ASGI 2.4: send() on a closed connection raises an OSError subclass.
    got: list[Any] = []
    done = Flag()
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        got.append(await receive())  # the (empty) body
        await gate.wait()
        got.append(await receive())  # waits until the client is gone
        try:
            await send(START)
        except OSError as exc:
            got.append(exc)
        done.set()

    with serving(app, loop_name) as server, gate:
        sock, _ = open_connection(server.port)
        sock.sendall(b"GET /long-poll HTTP/1.1\r\nHost: t\r\n\r\n")
        gate.arrived()
        gate.open()
        reset(sock)
        done.wait()
    assert got[:2] == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]
    assert isinstance(got[2], ClientDisconnected)
    assert isinstance(got[2], OSError)


def test_streaming_to_a_client_that_went_away_raises_oserror(loop_name: str) -> None:
    outcome: list[BaseException] = []
    done = Flag()
    started = Flag()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await receive()
        await send(START)
        piece = b"x" * 65536
        try:
            while True:  # until the server reports the client gone
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                started.set()
        except OSError as exc:
            outcome.append(exc)
        done.set()

    with serving(app, loop_name) as server:
        sock, _ = open_connection(server.port)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        started.wait()
        reset(sock)
        done.wait()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ClientDisconnected)


def test_max_connections_answers_503_to_one_more(loop_name: str) -> None:
    app = text_response()
    with serving(app, loop_name, max_connections=2) as server:
        held = [open_connection(server.port) for _ in range(2)]
        for sock, reader in held:  # both are accepted and served
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response().endswith(b"\r\n\r\nok")
        extra, extra_reader = open_connection(server.port)
        with extra:
            received = extra_reader.to_close()
        for sock, reader in held:  # the two held connections still work
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert reader.to_close().endswith(b"\r\nConnection: close\r\n\r\nok")
            sock.close()
    assert received == error_response(503, "Service Unavailable", "Service Unavailable")
