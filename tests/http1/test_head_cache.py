"""The per-request shortcuts: heads parsed once per distinct bytes (the cache in Limits),
and the end of a bodiless request taken in one call."""

from __future__ import annotations

import dataclasses

import pytest

from ferry import RemoteProtocolError
from ferry.http1 import PAUSED, Data, EndOfMessage, Limits, Request, ServerConnection

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"


def first_request(data: bytes, limits: Limits) -> Request:
    conn = ServerConnection(limits)
    conn.receive_data(data)
    event = conn.next_event()
    assert type(event) is Request
    return event


def test_an_identical_head_is_not_parsed_again() -> None:
    limits = Limits()
    first = first_request(GET, limits)
    assert first_request(GET, limits) is first  # shared, not re-parsed
    assert first == Request(
        b"GET", b"/a?b=1", "1.1", [(b"host", b"h"), (b"accept", b"*/*")], b"/a", b"b=1", b"h"
    )
    assert first_request(GET.replace(b"/a", b"/c"), limits) is not first


def test_the_shared_request_cannot_be_changed() -> None:
    request = first_request(GET, Limits())
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = b"POST"  # type: ignore[misc]


def test_a_bad_head_is_refused_every_time_and_not_kept() -> None:
    limits = Limits()
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            first_request(b"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", limits)
    assert limits.head_cache == {}


def test_heads_are_kept_per_limits() -> None:
    # The same bytes are a 413 under a smaller body limit: each Limits has its own cache.
    post = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
    assert first_request(post, Limits()).method == b"POST"
    with pytest.raises(RemoteProtocolError) as caught:
        first_request(post, Limits(max_body_size=5))
    assert caught.value.status == 413


def test_the_cache_is_bounded_in_entries_and_head_size() -> None:
    limits = Limits()
    for n in range(600):
        first_request(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % n, limits)
        assert len(limits.head_cache) <= 256
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    limits.head_cache.clear()
    first_request(big, limits)
    assert limits.head_cache == {}


def test_end_bodiless_request_takes_the_end_of_a_request_without_body() -> None:
    conn = ServerConnection()
    conn.receive_data(GET + b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
    assert type(conn.next_event()) is Request
    assert conn.end_bodiless_request() is True
    assert conn.next_event() is PAUSED  # as after next_event() returned EndOfMessage
    assert conn.end_bodiless_request() is False  # nothing to take now
    conn.send_response(204, [], end=True)
    conn.start_next_cycle()
    assert type(conn.next_event()) is Request
    assert conn.end_bodiless_request() is False  # it has a body: the events carry it
    assert conn.next_event() == Data(b"hi")
    assert conn.next_event() == EndOfMessage()
