"""The per-request shortcuts: heads parsed once per distinct bytes (the cache of a Limits),
request heads by the server, response heads by the client; and the end of a bodiless
request taken in one call."""

from __future__ import annotations

import dataclasses

import pytest

from ferry import RemoteProtocolError
from ferry.http1 import (
    NEED_DATA,
    PAUSED,
    ClientConnection,
    Data,
    EndOfMessage,
    Limits,
    Request,
    Response,
    ResponseSettings,
    ServerConnection,
    _caches,
)
from ferry.http1._caches import parsed_response_cache, request_head_cache, response_head_cache

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
    assert request_head_cache(limits).entries == {}


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
        assert len(request_head_cache(limits).entries) <= 256
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    request_head_cache(limits).entries.clear()
    first_request(big, limits)
    assert request_head_cache(limits).entries == {}


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


def test_the_caches_belong_to_one_object_and_live_outside_it() -> None:
    limits, settings = Limits(), ResponseSettings()
    assert request_head_cache(limits) is request_head_cache(limits)
    assert request_head_cache(Limits()) is not request_head_cache(limits)  # equal, not it
    assert response_head_cache(settings) is response_head_cache(settings)
    assert response_head_cache(ResponseSettings()) is not response_head_cache(settings)
    # The frozen objects carry their values only.
    assert [f.name for f in dataclasses.fields(Limits)] == [
        "max_request_line",
        "max_head_size",
        "max_header_count",
        "max_body_size",
        "max_chunk_line",
        "max_trailer_size",
        "max_leading_empty_lines",
    ]
    assert [f.name for f in dataclasses.fields(ResponseSettings)] == [
        "server_header",
        "keep_alive_timeout",
        "server_line",
        "keep_alive_line",
    ]


def test_the_registries_hold_their_objects_and_are_bounded() -> None:
    kept = [Limits() for _ in range(3 * _caches.MAX_OWNERS)]
    for limits in kept:
        request_head_cache(limits)
        assert len(_caches._request_caches) <= _caches.MAX_OWNERS
    owners = [owner for owner, _ in _caches._request_caches.values()]
    assert all(any(owner is limits for limits in kept) for owner in owners)


def test_a_full_registry_drops_only_its_oldest_owner() -> None:
    """Past MAX_OWNERS objects with caches, the oldest one's goes, not everyone's: a
    server's cache survives other Limits being made in the same process."""
    from ferry.http1 import _caches

    oldest = Limits()
    first = _caches.request_head_cache(oldest)
    others = [Limits() for _ in range(_caches.MAX_OWNERS - 1)]
    kept = [_caches.request_head_cache(other) for other in others]  # now full, oldest first
    _caches.request_head_cache(Limits())  # one more than fits
    again = [_caches.request_head_cache(other) for other in others]
    assert all(a is b for a, b in zip(kept, again, strict=True))  # the very same caches
    assert _caches.request_head_cache(oldest) is not first  # its cache was the one dropped


OK = b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\nhi"


def first_response(data: bytes, limits: Limits | None = None, method: bytes = b"GET") -> Response:
    conn = ClientConnection(limits)
    conn.send_request(method, b"/", [(b"Host", b"h")], end=True)
    conn.receive_data(data)
    event = conn.next_event()
    assert type(event) is Response
    # The framing is this request's: a response to HEAD has no body, whatever it says.
    assert conn.next_event() == (EndOfMessage() if method == b"HEAD" else Data(b"hi"))
    return event


def test_an_identical_response_head_is_not_parsed_again() -> None:
    first = first_response(OK)
    assert first_response(OK) is first  # shared by every connection without limits
    assert first == Response(200, b"OK", "1.1", [(b"server", b"s"), (b"content-length", b"2")])
    assert first_response(OK.replace(b"OK", b"Fine")) is not first
    assert first_response(OK, method=b"HEAD") is not first  # parsed again, for its framing
    entries = parsed_response_cache(ClientConnection()._limits).entries  # type: ignore[attr-defined]
    assert entries[(OK[: OK.index(b"\r\n\r\n") + 2], b"GET", True)] == (first, 2, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.status = 500  # type: ignore[misc]


def test_informational_and_bad_response_heads_are_not_kept() -> None:
    limits = Limits(max_body_size=None)
    conn = ClientConnection(limits)
    conn.send_request(b"GET", b"/", [(b"Host", b"h")], end=True)
    conn.receive_data(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
    assert conn.next_event().status == 103  # type: ignore[union-attr]
    assert conn.next_event() is NEED_DATA
    assert parsed_response_cache(limits).entries == {}
    for bad_head in (b"HTTP/1.1 2000 OK", b"HTTP/1.1 200 OK\r\nContent-Length: x"):
        for _ in range(2):  # refused every time
            with pytest.raises(RemoteProtocolError):
                first_response(bad_head + b"\r\n\r\nhi", limits)
    assert parsed_response_cache(limits).entries == {}


def test_response_heads_are_kept_per_limits_and_bounded() -> None:
    limits = Limits(max_body_size=None, max_header_count=1)
    with pytest.raises(RemoteProtocolError):  # two fields: too many under these limits
        first_response(OK, limits)
    for n in range(300):
        first_response(b"HTTP/1.1 200 R%d\r\nContent-Length: 2\r\n\r\nhi" % n, limits)
        assert len(parsed_response_cache(limits).entries) <= 256
    parsed_response_cache(limits).entries.clear()
    first_response(b"HTTP/1.1 200 " + b"a" * 5000 + b"\r\nContent-Length: 2\r\n\r\nhi", limits)
    assert parsed_response_cache(limits).entries == {}
