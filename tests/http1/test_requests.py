"""Valid requests that take the less common paths, parsed into exact events."""

from __future__ import annotations

import re

import pytest

from ferry.http1 import EndOfMessage, Request, ServerConnection, reason_phrase, status_line
from ferry.http1._date import date_header

from .helpers import merge_data, run_bytewise, run_whole


def parse(data: bytes) -> Request:
    events = merge_data(run_whole(data).events)
    assert merge_data(run_bytewise(data).events) == events
    assert type(events[0]) is Request
    assert events[-1] == EndOfMessage()
    return events[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            {"method": b"OPTIONS", "path": b"*", "query": b"", "host": b"h"},
        ),
        (  # RFC 9112 §3.2.2: the target's authority wins over Host
            b"GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n",
            {"path": b"/a/b", "query": b"c=d", "host": b"example.com:8080"},
        ),
        (
            b"GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
            {"path": b"/", "query": b"", "host": b"example.com"},
        ),
        (  # Host is ignored for absolute-form, so it may be empty
            b"GET http://example.com/ HTTP/1.1\r\nHost:\r\n\r\n",
            {"host": b"example.com"},
        ),
        (
            b"GET http://[::1]:80/?x HTTP/1.0\r\n\r\n",
            {"path": b"/", "query": b"x", "host": b"[::1]:80", "http_version": "1.0"},
        ),
        (  # RFC 9110 §2.5: a higher 1.x minor is handled as 1.1
            b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
            {"http_version": "1.1"},
        ),
        (b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", {"host": b"[2001:db8::1]:8443"}),
        (b"GET / HTTP/1.1\r\nHost: under_score.example\r\n\r\n", {"host": b"under_score.example"}),
        (b"GET / HTTP/1.1\r\nHost: h:\r\n\r\n", {"host": b"h:"}),
        (b"GET / HTTP/1.1\r\nHost: %41bc\r\n\r\n", {"host": b"%41bc"}),
        (b"GET / HTTP/1.0\r\n\r\n", {"host": b"", "http_version": "1.0"}),
        (
            b"GET /%7Euser/a%20b;p=1?q=/x?y&z=%2F HTTP/1.1\r\nHost: h\r\n\r\n",
            {"path": b"/%7Euser/a%20b;p=1", "query": b"q=/x?y&z=%2F"},
        ),
        (b"GET /? HTTP/1.1\r\nHost: h\r\n\r\n", {"path": b"/", "query": b""}),
        (b"PURGE /f HTTP/1.1\r\nHost: h\r\n\r\n", {"method": b"PURGE"}),  # unknown: to the app
        (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", {"method": b"get"}),  # methods are case-sensitive
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\n\r\n",
            {
                "headers": [
                    (b"host", b"h"),
                    (b"x-latin", b"caf\xe9"),
                    (b"x-empty", b""),
                    (b"x-tab", b"a\tb"),
                ]
            },
        ),
        (  # repeated fields stay separate, in order (RFC 9110 §5.3)
            b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n",
            {"headers": [(b"host", b"h"), (b"accept", b"a"), (b"accept", b"b")]},
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
            {"expect_continue": False},  # no body to wait for
        ),
    ],
)
def test_request_fields(data: bytes, expected: dict[str, object]) -> None:
    request = parse(data)
    for name, value in expected.items():
        assert getattr(request, name) == value, name


def test_expect_100_continue_with_a_body() -> None:
    conn = ServerConnection()
    conn.receive_data(
        b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"
    )
    request = conn.next_event()
    assert type(request) is Request
    assert request.expect_continue


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"CHUNKED", b" chunked "], ids=repr)
def test_transfer_coding_names_are_case_insensitive(coding: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:" + coding + b"\r\n\r\n0\r\n\r\n"
    assert parse(data).method == b"POST"


@pytest.mark.parametrize(
    ("connection", "keep_alive"),
    [(b"Keep-Alive", True), (b"close", False), (b"Upgrade, keep-alive", True), (b"x", False)],
)
def test_http10_persistence(connection: bytes, keep_alive: bool) -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.0\r\nConnection: " + connection + b"\r\n\r\n")
    conn.next_event()
    conn.send_response(200, [], body=b"", end=True)
    assert conn.keep_alive is keep_alive


def test_date_header_is_an_imf_fixdate_cached_per_second() -> None:
    assert date_header(0) == b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    assert date_header(86400.9) == b"Date: Fri, 02 Jan 1970 00:00:00 GMT\r\n"
    assert date_header(86400.1) is date_header(86400.9)
    pattern = rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"
    assert re.fullmatch(pattern, date_header())


def test_status_lines_and_reasons() -> None:
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    # RFC 9110's names, where they differ from RFC 7231's
    assert status_line(413) == b"HTTP/1.1 413 Content Too Large\r\n"
    assert status_line(414) == b"HTTP/1.1 414 URI Too Long\r\n"
    assert status_line(416) == b"HTTP/1.1 416 Range Not Satisfiable\r\n"
    assert status_line(299) == b"HTTP/1.1 299 \r\n"
    assert reason_phrase(422) == b"Unprocessable Content"
    assert reason_phrase(299) == b""
