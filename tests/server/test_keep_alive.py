"""Persistent connections (RFC 9112 §9.3): reuse, pipelining, HTTP/1.0, Connection: close,
the Keep-Alive advertisement and the per-connection request cap. Over real sockets."""

from __future__ import annotations

import http.client

import pytest

from ferry.asgi import Receive, Scope, Send

from ..support import serving
from ._helpers import FIXED_DATE, assert_closed, head, open_connection, text_response

DATE = FIXED_DATE.decode().rstrip()


async def count_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers ``<path> #<n>``: n is the request's number on its connection."""
    assert scope["type"] == "http"
    await receive()
    number = scope["extensions"]["ferry.exchange"]["requests_on_connection"]
    body = f"{scope['path']} #{number}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def ok(body: bytes, *tail: str) -> bytes:
    fields = [DATE, "Server: ferry", f"Content-Length: {len(body)}"]
    return head("HTTP/1.1 200 OK", *fields, *tail) + body


def get(path: str, *fields: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: t", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_several_requests_reuse_one_connection(loop_name: str) -> None:
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            for n in range(1, 4):
                sock.sendall(get(f"/r{n}"))
                assert reader.response() == ok(f"/r{n} #{n}".encode())
            sock.sendall(get("/last", "Connection: close"))
            assert reader.to_close() == ok(b"/last #4", "Connection: close")


def test_http_client_reuses_its_connection(loop_name: str) -> None:
    with serving(count_app, loop_name) as server:
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            bodies, sockets = [], []
            for n in range(3):
                client.request("GET", f"/c{n}")
                response = client.getresponse()
                assert response.status == 200
                # It sends no Connection field: persistence is HTTP/1.1's default, and
                # the Keep-Alive field is left out (docs/rfc-choices.md).
                assert response.getheader("Keep-Alive") is None
                bodies.append(response.read())
                sockets.append(client.sock)
        finally:
            client.close()
    assert bodies == [b"/c0 #1", b"/c1 #2", b"/c2 #3"]  # the server counted one connection
    assert sockets[0] is sockets[1] is sockets[2]  # and the client never reconnected


def test_pipelined_requests_are_answered_in_order(loop_name: str) -> None:
    requests = b"".join(get(f"/p{n}") for n in range(1, 6)) + get("/p6", "Connection: close")
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(requests)  # one write: six requests
            received = reader.to_close()
    expected = b"".join(ok(f"/p{n} #{n}".encode()) for n in range(1, 6))
    assert received == expected + ok(b"/p6 #6", "Connection: close")


def test_pipelined_requests_split_across_writes(loop_name: str) -> None:
    data = get("/a") + get("/b") + get("/c", "Connection: close")
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            # Cut mid-head of the second request: the server must keep the partial head.
            cut = len(get("/a")) + 7
            sock.sendall(data[:cut])
            assert reader.response() == ok(b"/a #1")
            sock.sendall(data[cut:])
            received = reader.to_close()
    assert received == ok(b"/b #2") + ok(b"/c #3", "Connection: close")


def test_http10_closes_after_the_response(loop_name: str) -> None:
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")  # no half-close: the server closes
            assert reader.to_close() == ok(b"/old #1", "Connection: close")


def test_http10_keep_alive_is_honoured_and_said(loop_name: str) -> None:
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/k1", "Connection: keep-alive", version="1.0"))
            assert reader.response() == ok(
                b"/k1 #1", "Connection: keep-alive", "Keep-Alive: timeout=5"
            )
            # The next 1.0 request without keep-alive ends the connection.
            sock.sendall(get("/k2", version="1.0"))
            assert reader.to_close() == ok(b"/k2 #2", "Connection: close")


def test_keep_alive_is_advertised_only_to_a_client_that_asks(loop_name: str) -> None:
    # RFC 9112 §9.3: HTTP/1.1 persists by default; Keep-Alive (RFC 2068 §19.7.1) is
    # said only where it helps: to a request that listed keep-alive in Connection.
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/plain"))
            assert reader.response() == ok(b"/plain #1")
            sock.sendall(get("/asks", "Connection: keep-alive"))
            assert reader.response() == ok(b"/asks #2", "Keep-Alive: timeout=5")
            sock.sendall(get("/asks-10", "Connection: keep-alive", version="1.0"))
            assert reader.response() == ok(
                b"/asks-10 #3", "Connection: keep-alive", "Keep-Alive: timeout=5"
            )
            sock.sendall(get("/plain-again"))
            assert reader.response() == ok(b"/plain-again #4")
            sock.sendall(get("/bye", "Connection: keep-alive, close"))
            assert reader.to_close() == ok(b"/bye #5", "Connection: close")


def test_connection_close_from_the_client(loop_name: str) -> None:
    with serving(count_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/bye", "Connection: close"))
            assert reader.to_close() == ok(b"/bye #1", "Connection: close")


def test_connection_close_from_the_app(loop_name: str) -> None:
    app = text_response(body=b"done", connection=b"close")
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/") + get("/never"))
            received = reader.to_close()
    # The app's field is replaced by Ferry's own, and the pipelined request is not served.
    expected = head(
        "HTTP/1.1 200 OK",
        "content-type: text/plain",
        DATE,
        "Server: ferry",
        "Content-Length: 4",
        "Connection: close",
    )
    assert received == expected + b"done"


@pytest.mark.parametrize(("timeout", "advertised"), [(7, "7"), (2.9, "2")])
def test_keep_alive_timeout_is_advertised(loop_name: str, timeout: float, advertised: str) -> None:
    # Rounded down: never a promise longer than the connection is really kept.
    with serving(count_app, loop_name, keep_alive_timeout=timeout) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/", "Connection: keep-alive"))
            assert reader.response() == ok(b"/ #1", f"Keep-Alive: timeout={advertised}")


def test_last_request_allowed_on_a_connection_says_close(loop_name: str) -> None:
    with serving(count_app, loop_name, max_requests_per_connection=3) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(get("/1"))
            assert reader.response() == ok(b"/1 #1")
            sock.sendall(get("/2") + get("/3") + get("/4"))
            assert reader.response() == ok(b"/2 #2")
            assert reader.response() == ok(b"/3 #3", "Connection: close")
            assert reader.to_close() == b""  # the fourth request is never answered
            assert_closed(sock)


def test_an_unread_small_body_is_drained_and_the_connection_kept(loop_name: str) -> None:
    app = text_response(body=b"ignored")  # answers without reading the body
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
            first = reader.response()
            sock.sendall(b"x" * 1000 + get("/next", "Connection: close"))
            rest = reader.to_close()
    fields = ("content-type: text/plain", DATE, "Server: ferry", "Content-Length: 7")
    assert first == head("HTTP/1.1 200 OK", *fields) + b"ignored"
    assert rest == head("HTTP/1.1 200 OK", *fields, "Connection: close") + b"ignored"


def test_an_unread_body_larger_than_max_drain_closes(loop_name: str) -> None:
    app = text_response(body=b"ignored")
    with serving(app, loop_name, max_drain=1000) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n")
            received = reader.to_close()
    fields = ("content-type: text/plain", DATE, "Server: ferry", "Content-Length: 7")
    assert received == head("HTTP/1.1 200 OK", *fields, "Connection: close") + b"ignored"


def test_an_unread_chunked_body_past_max_drain_closes_after_the_response(
    loop_name: str,
) -> None:
    app = text_response(body=b"ignored")
    with serving(app, loop_name, max_drain=1000) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            first = reader.response()  # its length unknown, the body might have been short
            sock.sendall(b"7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n" + get("/never"))
            rest = reader.to_close()
    fields = ("content-type: text/plain", DATE, "Server: ferry", "Content-Length: 7")
    assert first == head("HTTP/1.1 200 OK", *fields) + b"ignored"
    assert rest == b""  # past max_drain: closed, the next request is not read
