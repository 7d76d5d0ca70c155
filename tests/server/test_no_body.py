"""Responses without content (RFC 9110 §6.4.1): HEAD gets GET's header fields and no body;
204 and 304 never carry one. Each test goes on to a second request on the same connection,
which would fail to parse if a stray body had been sent."""

from __future__ import annotations

import pytest

from ferry.asgi import ASGIApp, Receive, Scope, Send

from ..support import serving
from ._helpers import FIXED_DATE, head, open_connection

DATE = FIXED_DATE.decode().rstrip()
PAGE = b"<p>hello</p>"


def page_app(*, declare_length: bool, empty_for_head: bool, stream: bool = False) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await receive()
        headers = [(b"content-type", b"text/html")]
        if declare_length:
            headers.append((b"content-length", str(len(PAGE)).encode()))
        body = b"" if empty_for_head and scope["method"] == "HEAD" else PAGE
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if stream:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": body})

    return app


def get_and_head(app: ASGIApp, loop_name: str) -> tuple[bytes, bytes]:
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"HEAD /p HTTP/1.1\r\nHost: t\r\n\r\n")
            head_response = reader.response(head_request=True)
            sock.sendall(b"GET /p HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            get_response = reader.to_close()
    return head_response, get_response


GET_HEAD = head(
    "HTTP/1.1 200 OK",
    "content-type: text/html",
    DATE,
    "Server: ferry",
    f"Content-Length: {len(PAGE)}",
    "Connection: close",
)


@pytest.mark.parametrize(
    ("declare_length", "empty_for_head"),
    [(True, True), (True, False), (False, False)],
    ids=["declared-length", "declared-length-body-sent", "body-sent"],
)
def test_head_has_the_get_fields_and_no_body(
    loop_name: str, declare_length: bool, empty_for_head: bool
) -> None:
    app = page_app(declare_length=declare_length, empty_for_head=empty_for_head)
    head_response, get_response = get_and_head(app, loop_name)
    assert get_response == GET_HEAD + PAGE
    assert head_response == GET_HEAD.replace(b"Connection: close\r\n", b"")


def test_head_with_an_unknown_length_says_no_length(loop_name: str) -> None:
    # RFC 9110 §8.6: a HEAD response MUST NOT carry a Content-Length other than GET's.
    # The app sent no length and an empty body: "Content-Length: 0" would be false.
    app = page_app(declare_length=False, empty_for_head=True)
    head_response, get_response = get_and_head(app, loop_name)
    assert get_response == GET_HEAD + PAGE
    assert head_response == head(
        "HTTP/1.1 200 OK",
        "content-type: text/html",
        DATE,
        "Server: ferry",
    )


def test_head_of_a_streamed_response_has_no_framing_and_no_body(loop_name: str) -> None:
    app = page_app(declare_length=False, empty_for_head=False, stream=True)
    head_response, get_response = get_and_head(app, loop_name)
    fields = ("content-type: text/html", DATE, "Server: ferry")
    chunked = head("HTTP/1.1 200 OK", *fields, "Transfer-Encoding: chunked", "Connection: close")
    assert get_response == chunked + b"c\r\n" + PAGE + b"\r\n0\r\n\r\n"
    # No Transfer-Encoding: HEAD has no body to frame (a MAY-omit field, RFC 9110 §9.3.2).
    assert head_response == head("HTTP/1.1 200 OK", *fields)


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_204_and_304_carry_no_body(loop_name: str, status: int, method: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await receive()
        headers = [(b"etag", b'"v1"')]
        if status == 304:
            # RFC 9110 §8.6: a 304 may carry the representation's Content-Length.
            headers.append((b"content-length", b"1000"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        # A body sent anyway is dropped (RFC 9110 §15.3.5, §15.4.5).
        await send({"type": "http.response.body", "body": b"must not be sent"})

    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            request = f"{method} / HTTP/1.1\r\nHost: t\r\n\r\n".encode()
            sock.sendall(request)
            first = reader.head()
            sock.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            second = reader.to_close()
    reason = {204: "No Content", 304: "Not Modified"}[status]
    length = ["Content-Length: 1000"] if status == 304 else []
    fields = ['etag: "v1"', DATE, "Server: ferry", *length]
    assert first == head(f"HTTP/1.1 {status} {reason}", *fields)
    assert second == head(f"HTTP/1.1 {status} {reason}", *fields, "Connection: close")
