"""Every protocol error the peer can cause carries the status Ferry answers it with."""

from __future__ import annotations

import pytest

from ferry import RemoteProtocolError
from ferry.http1 import Limits, ServerConnection, State

from .helpers import Driver

H = b"Host: h\r\n"
POST_CHUNKED = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
SMALL = Limits(
    max_request_line=64,
    max_head_size=256,
    max_header_count=4,
    max_body_size=10,
    max_chunk_line=16,
    max_trailer_size=32,
)

ERRORS: dict[str, tuple[bytes, int]] = {
    # -- 400: the request line (RFC 9112 §3) -----------------------------------------
    "two spaces": (b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "tab separator": (b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    "trailing space": (b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    "lower-case version": (b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    "HTTP/0.9 line": (b"GET /\r\n\r\n", 400),
    "HTTP/0.9 version": (b"GET / HTTP/0.9\r\n\r\n", 400),
    "ICE/1.0": (b"SOURCE / ICE/1.0\r\n" + H + b"\r\n", 400),
    "method not a token": (b"GE(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "NUL first": (b"\x00GET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "TLS ClientHello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    "three empty lines first": (b"\r\n\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "bare CR in request line": (b"GET / HTTP/1.1\rX: 1\r\n" + H + b"\r\n", 400),
    "bare LF request line": (b"GET / HTTP/1.1\n" + H + b"\r\n", 400),
    # -- 400: the target (RFC 9112 §3.2, RFC 9110 §4) --------------------------------
    "fragment": (b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "pipe in path": (b"GET /a|b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "raw UTF-8": (b"GET /\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    "bad percent": (b"GET /%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    "asterisk with GET": (b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    "authority-form with GET": (b"GET h:443 HTTP/1.1\r\n" + H + b"\r\n", 400),
    "userinfo": (b"GET http://u:p@h/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    "scheme without authority": (b"GET http:/x HTTP/1.1\r\n" + H + b"\r\n", 400),
    "empty host in target": (b"GET http:///x HTTP/1.1\r\n" + H + b"\r\n", 400),
    "port without host in target": (b"GET http://:80/x HTTP/1.1\r\n" + H + b"\r\n", 400),
    "ftp target": (b"GET ftp://h/x HTTP/1.1\r\n" + H + b"\r\n", 400),
    # -- 400: Host (RFC 9112 §3.2) ----------------------------------------------------
    "no Host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two Host": (b"GET / HTTP/1.1\r\n" + H + H + b"\r\n", 400),
    "invalid Host": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "empty Host": (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    # -- 400: field lines (RFC 9112 §5, RFC 9110 §5.5) --------------------------------
    "bare LF in fields": (b"GET / HTTP/1.1\r\n" + H + b"X: a\nY: b\r\n\r\n", 400),
    "bare CR in value": (b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    "bare CR at a line start": (b"GET / HTTP/1.1\r\n" + H + b"\rX: a\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
    "whitespace line after request line": (b"GET / HTTP/1.1\r\n " + H + b"\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\n" + H + b"X : a\r\n\r\n", 400),
    "tab before colon": (b"GET / HTTP/1.1\r\n" + H + b"X\t: a\r\n\r\n", 400),
    "no colon": (b"GET / HTTP/1.1\r\n" + H + b"X a\r\n\r\n", 400),
    "empty name": (b"GET / HTTP/1.1\r\n" + H + b": a\r\n\r\n", 400),
    "name not a token": (b"GET / HTTP/1.1\r\n" + H + b"X(y): a\r\n\r\n", 400),
    "NUL in value": (b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    "BEL in value": (b"GET / HTTP/1.1\r\n" + H + b"X: a\x07b\r\n\r\n", 400),
    "DEL in value": (b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", 400),
    "two Content-Type": (
        b"GET / HTTP/1.1\r\n" + H + b"Content-Type: a/b\r\ncontent-type: c/d\r\n\r\n",
        400,
    ),
    # -- 400: framing (RFC 9112 §6, RFC 9110 §8.6) ------------------------------------
    "Content-Length list": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\n", 400),
    "Content-Length twice": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n",
        400,
    ),
    "Content-Length sign": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\n", 400),
    "Content-Length hex": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\n", 400),
    "Content-Length empty": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n", 400),
    "TE and CL": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "TE in HTTP/1.0": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "chunked not last": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    "identity alone": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\n", 400),
    "chunked twice": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n",
        400,
    ),
    "empty coding": (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: , chunked\r\n\r\n", 400),
    # -- 400: the chunked coding (RFC 9112 §7.1) --------------------------------------
    "chunk size not hex": (POST_CHUNKED + b"zz\r\n", 400),
    "space after chunk size": (POST_CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", 400),
    "bad chunk extension": (POST_CHUNKED + b"5;=x\r\nhello\r\n0\r\n\r\n", 400),
    "bare LF after chunk size": (POST_CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400),
    "bare LF in last chunk": (POST_CHUNKED + b"0\n", 400),
    "bare CR in chunk size line": (POST_CHUNKED + b"5\rX", 400),
    "no CRLF after chunk data": (POST_CHUNKED + b"5\r\nhelloXY", 400),
    "LF alone after chunk data": (POST_CHUNKED + b"5\r\nhello\n0\r\n\r\n", 400),
    "17 hex digits": (POST_CHUNKED + b"0" * 16 + b"1\r\n", 400),
    "long chunk line": (POST_CHUNKED + b"1;" + b"x" * 5000, 400),
    "bare LF in trailers": (POST_CHUNKED + b"0\r\nX: a\n\n", 400),
    "obs-fold in trailers": (POST_CHUNKED + b"0\r\nX: a\r\n b\r\n\r\n", 400),
    **{
        f"trailer {name.decode()}": (POST_CHUNKED + b"0\r\n" + name + b": x\r\n\r\n", 400)
        for name in (b"Content-Length", b"Transfer-Encoding", b"Host", b"Authorization")
    },
    # -- 413, 414, 417, 431, 501, 505 -------------------------------------------------
    "Content-Length of 19 digits": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: " + b"1" * 19 + b"\r\n\r\n",
        413,
    ),
    "body over max_body_size": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1073741825\r\n\r\n",
        413,
    ),
    "chunked body over max_body_size": (POST_CHUNKED + b"40000001\r\n", 413),
    "request line too long": (b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    "unknown expectation": (b"GET / HTTP/1.1\r\n" + H + b"Expect: 200-ok\r\n\r\n", 417),
    "100-continue twice": (
        b"GET / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nExpect: 100-continue\r\n\r\n",
        417,
    ),
    "head too large": (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 70000 + b"\r\n\r\n", 431),
    "too many fields": (b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n" * 100 + b"\r\n", 431),
    "trailers too large": (POST_CHUNKED + b"0\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
    "compression coding": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    "CONNECT": (b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501),
    # An origin server has no tunnel to offer: CONNECT is 501 whatever its target.
    "CONNECT origin-form": (b"CONNECT / HTTP/1.1\r\n" + H + b"\r\n", 501),
    "CONNECT bad authority": (b"CONNECT h HTTP/1.1\r\n" + H + b"\r\n", 400),
    "HTTP/2.0": (b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    "HTTP/3.0": (b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
    "HTTP/10.0": (b"GET / HTTP/10.0\r\n" + H + b"\r\n", 505),
}

EOF_ERRORS: dict[str, bytes] = {
    "inside the request line": b"GET / HT",
    "inside the head": b"GET / HTTP/1.1\r\n" + H,
    "inside a Content-Length body": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nab",
    "inside a chunk": POST_CHUNKED + b"5\r\nab",
    "before the chunk's CRLF": POST_CHUNKED + b"2\r\nab\r",
    "inside a chunk size line": POST_CHUNKED + b"5",
    "inside the trailers": POST_CHUNKED + b"0\r\nX: a\r\n",
    "before the last CRLF": POST_CHUNKED + b"0\r\n",
}


def feed_all(driver: Driver, pieces: list[bytes], *, eof: bool) -> None:
    for piece in pieces:
        driver.feed(piece)
    if eof:
        driver.eof()


def error_of(feed: str, data: bytes, *, limits: Limits | None = None, eof: bool = False) -> int:
    """The status of the error ``data`` causes, fed whole or byte at a time."""
    driver = Driver(ServerConnection(limits))
    pieces = [data] if feed == "whole" else [data[i : i + 1] for i in range(len(data))]
    with pytest.raises(RemoteProtocolError) as error:
        feed_all(driver, pieces, eof=eof)
    conn = driver.conn
    assert conn.their_state is State.ERROR
    assert not conn.keep_alive
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # the connection stays failed
    return error.value.status


@pytest.mark.parametrize("feed", ["whole", "bytewise"])
@pytest.mark.parametrize("name", list(ERRORS))
def test_error_status(name: str, feed: str) -> None:
    data, status = ERRORS[name]
    assert error_of(feed, data) == status


@pytest.mark.parametrize("feed", ["whole", "bytewise"])
@pytest.mark.parametrize("name", list(EOF_ERRORS))
def test_eof_inside_a_message_is_400(name: str, feed: str) -> None:
    assert error_of(feed, EOF_ERRORS[name], eof=True) == 400


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * 60 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
        (b"GET /" + b"a" * 70, 414),
        (b"GET /" + b"a" * 70 + b" HTTP/1.1\r\n" + H, 414),  # complete line, head not
        (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 300, 431),
        (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 300 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + H + b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 11\r\n\r\n", 413),
        (POST_CHUNKED + b"5\r\nhello\r\n6\r\n", 413),
        (POST_CHUNKED + b"1;" + b"x" * 16, 400),
        (POST_CHUNKED + b"0\r\nX: " + b"a" * 40, 431),
    ],
)
def test_configured_limits(data: bytes, status: int) -> None:
    assert error_of("whole", data, limits=SMALL) == status
    assert error_of("bytewise", data, limits=SMALL) == status


def test_the_error_response_closes_the_connection() -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    out = conn.send_response(400, [], body=b"no", end=True)
    assert out.endswith(b"Content-Length: 2\r\nConnection: close\r\n\r\nno")


def test_within_the_limits_is_fine() -> None:
    driver = Driver(ServerConnection(SMALL))
    driver.feed(b"POST /" + b"a" * 44 + b" HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\n")
    driver.feed(b"0123456789")
    assert driver.sent.startswith(b"HTTP/1.1 200 OK\r\n")
