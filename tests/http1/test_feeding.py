"""Feeding bytes one at a time gives the same events and responses as feeding them whole."""

from __future__ import annotations

import pytest

from ferry.http1 import ConnectionClosed, Data, EndOfMessage, Event, Request

from .helpers import merge_data, run_bytewise, run_split, run_whole

OK = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\nServer: ferry\r\nContent-Length: 2\r\n\r\nok"
)
OK_CLOSE = OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")


def request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    version: str = "1.1",
    path: bytes | None = None,
    host: bytes | None = None,
) -> Request:
    """The Request event the engine should give, its derived fields filled in."""
    target_path, _, query = target.partition(b"?")
    if host is None:
        host = next((value for name, value in headers if name == b"host"), b"")
    return Request(
        method,
        target,
        version,
        headers,
        path=target_path if path is None else path,
        query=query,
        host=host,
    )


CASES: dict[str, tuple[bytes, list[Event], bytes]] = {
    "content-length": (
        b"POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
        [
            request(
                b"POST",
                b"/upload?x=1",
                [(b"host", b"example.com"), (b"content-length", b"5")],
            ),
            Data(b"hello"),
            EndOfMessage(),
        ],
        OK,
    ),
    "chunked with extensions and trailers": (
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;name=value;q="a \\" b"\r\nhello\r\n'
        b"6 ; ext\r\n world\r\n"
        b"0\r\nX-Checksum: abc\r\nX-Other:  two \r\n\r\n",
        [
            request(b"POST", b"/c", [(b"host", b"h"), (b"transfer-encoding", b"chunked")]),
            Data(b"hello world"),
            EndOfMessage([(b"x-checksum", b"abc"), (b"x-other", b"two")]),
        ],
        OK,
    ),
    "pipelined, the last one closing": (
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
        b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        b"GET /ignored HTTP/1.1\r\nHost: h\r\n\r\n",
        [
            request(b"GET", b"/a", [(b"host", b"h")]),
            EndOfMessage(),
            request(b"PUT", b"/b", [(b"host", b"h"), (b"content-length", b"3")]),
            Data(b"xyz"),
            EndOfMessage(),
            request(b"GET", b"/c", [(b"host", b"h"), (b"connection", b"close")]),
            EndOfMessage(),
        ],
        OK + OK + OK_CLOSE,
    ),
    "leading empty lines": (
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        [
            request(b"GET", b"/", [(b"host", b"h")]),
            EndOfMessage(),
            request(b"GET", b"/2", [(b"host", b"h")]),
            EndOfMessage(),
        ],
        OK + OK,
    ),
    "HTTP/1.0, absolute-form, 100-continue ignored": (
        b"POST http://example.com:8080/p?q HTTP/1.0\r\nExpect: 100-continue\r\n"
        b"Content-Length: 2\r\n\r\nhi",
        [
            request(
                b"POST",
                b"http://example.com:8080/p?q",
                [(b"expect", b"100-continue"), (b"content-length", b"2")],
                path=b"/p",
                host=b"example.com:8080",
                version="1.0",
            ),
            Data(b"hi"),
            EndOfMessage(),
        ],
        OK_CLOSE,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_whole_and_byte_at_a_time_agree(name: str) -> None:
    data, events, sent = CASES[name]
    whole = run_whole(data)
    bytewise = run_bytewise(data)
    assert merge_data(whole.events) == events
    assert merge_data(bytewise.events) == events
    assert whole.sent == bytewise.sent == sent


@pytest.mark.parametrize("name", list(CASES))
def test_every_single_cut_agrees(name: str) -> None:
    data, events, sent = CASES[name]
    for cut in range(len(data) + 1):
        driver = run_split(data, [cut])
        assert merge_data(driver.events) == events, cut
        assert driver.sent == sent, cut


def test_eof_between_requests_is_a_clean_close() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    for driver in (run_whole(data, eof=True), run_bytewise(data, eof=True)):
        assert driver.events == [
            request(b"GET", b"/", [(b"host", b"h")]),
            EndOfMessage(),
            ConnectionClosed(),
        ]
        assert driver.sent == OK
