"""Hypothesis: the parser's invariants, on arbitrary and on generated valid input.

(a) Whatever bytes arrive, the engine gives events or raises RemoteProtocolError (with
    one of the statuses it documents), and nothing else; with or without a final EOF.
(b) A valid stream of pipelined requests gives exactly the events it was built from,
    however it is split into reads.
(c) However any input is split, the events are the same, and so is whether it fails: the
    early checks on an incomplete head never refuse a head that would parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry import RemoteProtocolError
from ferry.http1 import Data, EndOfMessage, Event, Request, State

from .helpers import Driver, merge_data, run_split

STATUSES = {400, 413, 414, 417, 431, 501, 505}
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- valid streams ------------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(TCHARS, min_size=1, max_size=8).map(str.encode)
PCHARS = "abcXYZ019-._~!$&'()*+,;=:@"
segments = st.one_of(
    st.text(PCHARS, max_size=6).map(str.encode),
    st.sampled_from([b"%20", b"%2F", b"%e9"]),
)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda s: b"/" + b"/".join(s))
queries = st.text(PCHARS + "/?", max_size=8).map(str.encode)

# Names the engine reads itself (framing, routing) or refuses in trailers.
SPECIAL = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"}
SPECIAL |= {b"content-type", b"keep-alive", b"te", b"trailer", b"upgrade", b"cookie"}
SPECIAL |= {b"authorization", b"proxy-authorization", b"content-encoding", b"content-range"}
names = tokens.filter(lambda name: name.lower() not in SPECIAL)

# A field value: visible characters and obs-text, SP or HTAB inside, OWS around.
words = st.lists(
    st.one_of(st.sampled_from(list(b'abcXYZ019!"#;=,/()<>@[]{}?~')), st.integers(0x80, 0xFF)),
    min_size=1,
    max_size=6,
).map(bytes)
spaces = st.sampled_from([b" ", b"\t", b"  ", b" \t"])
ows = st.sampled_from([b"", b"", b" ", b"\t", b" \t "])
extensions = st.sampled_from([b"", b";a", b";a=b", b' ; q="x \\" y"', b";a=1;b"])


@st.composite
def values(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(the value as sent, with OWS around it; the value as parsed)."""
    value = b""
    for i, word in enumerate(draw(st.lists(words, max_size=3))):
        value += (draw(spaces) if i else b"") + word
    return draw(ows) + value + draw(ows), value


@st.composite
def fields(draw: st.DrawFn) -> list[tuple[bytes, bytes, bytes]]:
    """(name, value as sent, value as parsed) for a few field lines."""
    return [(name, *draw(values())) for name in draw(st.lists(names, max_size=4))]


@dataclass
class Message:
    """Generated requests: their bytes and the events they must give."""

    data: bytes
    events: list[Event]


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> tuple[bytes, list[tuple[bytes, bytes, bytes]]]:
    """``body`` in the chunked coding, with extensions and trailers; and the trailers."""
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(body))), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    framed = b"".join(
        b"%x%s\r\n%s\r\n" % (len(piece), draw(extensions), piece) for piece in pieces if piece
    )
    trailers = draw(fields())
    lines = b"".join(name + b":" + value + b"\r\n" for name, value, _ in trailers)
    return framed + b"0" + draw(extensions) + b"\r\n" + lines + b"\r\n", trailers


@st.composite
def requests(draw: st.DrawFn, *, last: bool) -> Message:
    method = draw(st.one_of(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"]), tokens))
    method = b"GET" if method == b"CONNECT" else method  # CONNECT is answered 501
    path = draw(paths)
    query = draw(st.one_of(st.none(), queries))
    target = path if query is None else path + b"?" + query
    version = draw(st.sampled_from(["1.0", "1.1"]))
    headers = draw(fields())
    if version == "1.1":
        host = (b"Host", b"example.com", b"example.com")
        headers.insert(draw(st.integers(0, len(headers))), host)
    elif not last:
        headers.append((b"Connection", b"keep-alive", b"keep-alive"))
    body = draw(st.binary(max_size=40))
    trailers: list[tuple[bytes, bytes, bytes]] = []
    if version == "1.1" and draw(st.booleans()):
        headers.append((b"Transfer-Encoding", b"chunked", b"chunked"))
        framed, trailers = draw(chunked(body))
    elif body or draw(st.booleans()):
        length = b"%d" % len(body)
        headers.append((b"Content-Length", length, length))
        framed = body
    else:
        framed = b""
    if last and draw(st.booleans()):
        headers.append((b"Connection", b"close", b"close"))
    head = b"%s %s HTTP/%s\r\n" % (method, target, version.encode())
    head += b"".join(name + b":" + value + b"\r\n" for name, value, _ in headers) + b"\r\n"
    request = Request(
        method,
        target,
        version,
        [(name.lower(), parsed) for name, _, parsed in headers],
        path=path,
        query=query or b"",
        host=b"example.com" if version == "1.1" else b"",
    )
    events: list[Event] = [request]
    if body:
        events.append(Data(body))
    events.append(EndOfMessage([(name.lower(), parsed) for name, _, parsed in trailers]))
    empty_lines = draw(st.sampled_from([b"", b"", b"\r\n", b"\r\n\r\n"]))
    return Message(empty_lines + head + framed, events)


@st.composite
def streams(draw: st.DrawFn) -> Message:
    count = draw(st.integers(1, 4))
    messages = [draw(requests(last=i == count - 1)) for i in range(count)]
    return Message(b"".join(m.data for m in messages), [e for m in messages for e in m.events])


# -- arbitrary input ----------------------------------------------------------------------

# Pieces of HTTP/1.1 syntax, so that random input gets past the request line often.
FRAGMENTS = [
    *(b"GET", b"POST", b"HEAD", b"CONNECT", b" ", b"/", b"/a?b=c", b"*", b"http://h"),
    *(b"h:80", b" HTTP/1.1", b" HTTP/1.0", b" HTTP/2.0", b"\r\n", b"\r\n\r\n", b"\r"),
    *(b"\n", b"\t", b"\x00", b":", b"Host: h", b"Content-Length: ", b"3", b"5, 5"),
    *(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked"),
    *(b"Connection: close", b"Connection: keep-alive", b"Expect: 100-continue"),
    *(b"0\r\n", b"5;a=b\r\nhello\r\n", b"ffffffffffffffffff", b"X: y", b"abc"),
]
fragments = st.one_of(st.sampled_from(FRAGMENTS), st.binary(min_size=1, max_size=3))


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """A valid stream with a few pieces inserted, deleted or overwritten: input that is
    valid up to some point, the hardest for checks that run before a head is complete."""
    data = bytearray(draw(streams()).data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        piece = draw(fragments)
        action = draw(st.sampled_from(["insert", "delete", "overwrite"]))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + len(piece)]
        else:
            data[at : at + len(piece)] = piece
    return bytes(data)


any_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(fragments, max_size=40).map(b"".join),
    mutated_streams(),
)


def feed(data: bytes, cuts: list[int], *, eof: bool) -> tuple[list[Event], bytes, int | None]:
    """Events, bytes sent and the error status (None: no error) for ``data`` cut at ``cuts``."""
    driver = Driver()
    status = None
    try:
        start = 0
        for cut in [*sorted(set(cuts)), len(data)]:
            driver.feed(data[start:cut])
            start = cut
        if eof:
            driver.eof()
    except RemoteProtocolError as error:
        status = error.status
        assert driver.conn.their_state is State.ERROR
    return merge_data(driver.events), driver.sent, status


# -- the properties -----------------------------------------------------------------------


@BOUNDED
@given(data=any_bytes, seed=st.data(), eof=st.booleans())
def test_any_bytes_give_events_or_a_remote_protocol_error(
    data: bytes, seed: st.DataObject, eof: bool
) -> None:
    cuts = seed.draw(st.lists(st.integers(0, len(data)), max_size=10))
    _, _, status = feed(data, cuts, eof=eof)
    assert status is None or status in STATUSES


@BOUNDED
@given(stream=streams(), seed=st.data())
def test_valid_streams_give_their_events_however_split(
    stream: Message, seed: st.DataObject
) -> None:
    cuts = seed.draw(st.lists(st.integers(0, len(stream.data)), max_size=10))
    whole = run_split(stream.data, [])
    split = run_split(stream.data, cuts)
    assert merge_data(whole.events) == stream.events
    assert merge_data(split.events) == stream.events
    assert split.sent == whole.sent
    requests_sent = sum(type(event) is Request for event in stream.events)
    assert whole.sent.count(b"HTTP/1.1 200 OK\r\n") == requests_sent


@BOUNDED
@given(data=any_bytes, seed=st.data())
def test_any_split_gives_the_same_events_and_the_same_failure(
    data: bytes, seed: st.DataObject
) -> None:
    whole = feed(data, [], eof=False)
    for cuts in (
        seed.draw(st.lists(st.integers(0, len(data)), max_size=10)),
        list(range(len(data))),  # byte at a time: every early check at every position
    ):
        events, sent, status = feed(data, cuts, eof=False)
        assert (events, sent) == whole[:2]
        assert (status is None) == (whole[2] is None)
