"""Deadlines: the whole request head within head_timeout (slowloris), idle keep-alive
connections, and stalled request bodies. Short Config timeouts keep these fast; the server
checks deadlines every half second, so a deadline fires within that of its time."""

from __future__ import annotations

import select
import time

from ferry.asgi import Message, Receive, Scope, Send

from ..support import serving
from ._helpers import error_response, open_connection, text_response

TICK = 0.5  # the server's deadline sweep period (ferry.server._server._TICK)
SLACK = 1.0  # scheduling noise on a loaded machine
# The server starts a new connection's head deadline in connection_made, which can run a
# moment before the test takes its start time after connect() returns.
ACCEPT_SKEW = 0.05


def test_slowloris_head_gets_408_at_the_deadline(loop_name: str) -> None:
    trickle = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200
    with serving(text_response(), loop_name, head_timeout=1.0) as server:
        sock, reader = open_connection(server.port)
        with sock:
            start = time.monotonic()
            sent = 0
            # One byte every 0.1 s: each byte would reset a per-read timer; the head
            # deadline must not move. Stop as soon as the server answers.
            while sent < 40 and not select.select([sock], [], [], 0.1)[0]:
                sock.sendall(trickle[sent : sent + 1])
                sent += 1
            elapsed = time.monotonic() - start
            received = reader.to_close()
    assert received == error_response(408, "Request Timeout", "request head not received in time")
    assert 1.0 - ACCEPT_SKEW <= elapsed < 1.0 + TICK + SLACK
    assert sent < 40  # answered while the client was still trickling


def test_slow_second_head_on_a_kept_alive_connection_gets_408(loop_name: str) -> None:
    with serving(text_response(), loop_name, head_timeout=1.0, keep_alive_timeout=5) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response()
            start = time.monotonic()
            sock.sendall(b"GET /next HTTP/1.1\r\n")  # the head deadline starts here
            received = reader.to_close()
            elapsed = time.monotonic() - start
    assert received == error_response(408, "Request Timeout", "request head not received in time")
    assert 1.0 <= elapsed < 1.0 + TICK + SLACK


def test_a_client_that_sends_nothing_is_closed_without_a_response(loop_name: str) -> None:
    with serving(text_response(), loop_name, head_timeout=0.5) as server:
        sock, reader = open_connection(server.port)
        with sock:
            start = time.monotonic()
            received = reader.to_close()
            elapsed = time.monotonic() - start
    assert received == b""
    assert 0.5 - ACCEPT_SKEW <= elapsed < 0.5 + TICK + SLACK


def test_an_idle_keep_alive_connection_is_closed(loop_name: str) -> None:
    with serving(text_response(), loop_name, keep_alive_timeout=0.5) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
            start = time.monotonic()
            received = reader.to_close()
            elapsed = time.monotonic() - start
    # Under a second, no timeout is advertised (never one longer than the real one).
    assert response.endswith(b"\r\nContent-Length: 2\r\n\r\nok")
    assert received == b""  # closed without a response: nothing was asked
    assert 0.3 <= elapsed < 0.5 + TICK + SLACK


def test_a_stalled_request_body_gets_408_and_the_app_sees_a_disconnect(loop_name: str) -> None:
    received_by_app: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        while True:
            message = await receive()
            received_by_app.append(message)
            if message["type"] == "http.disconnect":
                return

    with serving(app, loop_name, body_timeout=0.5) as server:
        sock, reader = open_connection(server.port)
        with sock:
            start = time.monotonic()
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            received = reader.to_close()
            elapsed = time.monotonic() - start
    assert received == error_response(408, "Request Timeout", "request body not received in time")
    assert 0.5 <= elapsed < 0.5 + TICK + SLACK
    assert received_by_app == [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]
