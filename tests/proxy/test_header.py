"""The PROXY protocol header (HAProxy's doc/proxy-protocol.txt), versions 1 and 2:
exact bytes, whole and a byte at a time, and the parser's invariant under fuzzing."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.proxy import (
    MAX_V1_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    parse_proxy_header,
)

SIG = V2_SIGNATURE


def v2(command: int, family: int, block: bytes) -> bytes:
    return SIG + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


def tcp4_block(src: str, dst: str, sport: int, dport: int) -> bytes:
    return (
        ipaddress.IPv4Address(src).packed
        + ipaddress.IPv4Address(dst).packed
        + struct.pack("!HH", sport, dport)
    )


def tcp6_block(src: str, dst: str, sport: int, dport: int) -> bytes:
    return (
        ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + struct.pack("!HH", sport, dport)
    )


def parse_bytewise(data: bytes) -> ProxyHeader:
    """Feed ``data`` as it would arrive a byte at a time: every proper prefix of the
    header must need more bytes; the header is found when its last byte arrives."""
    for end in range(len(data) + 1):
        header = parse_proxy_header(data[:end])
        if header is not None:
            return header
    raise AssertionError("no header")


# -- version 1 --------------------------------------------------------------------------

V1_CASES = [
    (
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        ProxyHeader(1, "PROXY", "TCP4", ("192.168.0.1", 56324), ("192.168.0.11", 443), 47),
    ),
    (
        b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
        ProxyHeader(1, "PROXY", "TCP4", ("255.255.255.255", 65535), ("255.255.255.255", 65535), 56),
    ),
    (
        b"PROXY TCP6 2001:DB8::1 ::1 0 8000\r\n",
        ProxyHeader(1, "PROXY", "TCP6", ("2001:db8::1", 0), ("::1", 8000), 35),
    ),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None, 15)),
    (
        b"PROXY UNKNOWN ffff:f...f:ffff whatever the sender puts\r\n",
        ProxyHeader(1, "PROXY", "UNKNOWN", None, None, 56),
    ),
]


@pytest.mark.parametrize(("data", "expected"), V1_CASES)
def test_v1_header_parsed_whole_and_bytewise(data: bytes, expected: ProxyHeader) -> None:
    assert parse_proxy_header(data + b"GET / HTTP/1.1\r\n") == expected
    assert parse_bytewise(data) == expected


def test_the_longest_v1_line_is_accepted() -> None:
    v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    line = f"PROXY UNKNOWN {v6} {v6} 65535 65535\r\n".encode()
    assert len(line) == MAX_V1_LENGTH
    assert parse_proxy_header(line) == ProxyHeader(1, "PROXY", "UNKNOWN", None, None, 107)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n", "did not start with a PROXY protocol header"),
        (b"PROXY\tTCP4", 'starts with "PROXY "'),
        (b"PROXX", 'starts with "PROXY "'),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "lone CR or LF"),
        (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "lone CR or LF"),
        (b"PROXY UNKNOWN " + b"x" * 100, "no CRLF in the first 107 bytes"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "protocol 'TCP5'"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol 'tcp4'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "two addresses and two ports"),
        (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "two addresses and two ports"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "two addresses and two ports"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "'01.2.3.4' is not an IPv4 address"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "'1.2.3.256' is not an IPv4"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "'::1' is not an IPv4"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "'1.2.3.4' is not an IPv6"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "'fe80::1%eth0' is not an IPv6"),
        (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "is not an IPv6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "'65536' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "'080' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", "'-2' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xb2\r\n", "US-ASCII"),
    ],
)
def test_v1_malformed_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ProxyHeaderError, match=message):
        parse_proxy_header(data)


def test_v1_is_refused_as_soon_as_a_byte_cannot_fit() -> None:
    assert parse_proxy_header(b"PROX") is None
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(b"PROXI")
    assert parse_proxy_header(b"PROXY TCP4 1.2.3.4") is None
    with pytest.raises(ProxyHeaderError, match="lone CR or LF"):
        parse_proxy_header(b"PROXY TCP4 1.2.3.4\n")
    assert parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r") is None  # CR, LF to come
    assert parse_proxy_header(b"P" + b"ROXY UNKNOWN".ljust(MAX_V1_LENGTH - 2)) is None
    with pytest.raises(ProxyHeaderError, match="no CRLF"):
        parse_proxy_header(b"P" + b"ROXY UNKNOWN".ljust(MAX_V1_LENGTH - 1))


# -- version 2 --------------------------------------------------------------------------


def test_v2_tcp4_with_tlvs_whole_and_bytewise() -> None:
    tlvs = bytes([0x01, 0x00, 0x08]) + b"http/1.1" + bytes([0x05, 0x00, 0x00])
    data = v2(1, 0x11, tcp4_block("203.0.113.7", "10.0.0.2", 51000, 8000) + tlvs)
    expected = ProxyHeader(
        2,
        "PROXY",
        "TCP4",
        ("203.0.113.7", 51000),
        ("10.0.0.2", 8000),
        16 + 12 + 14,
        ((1, b"http/1.1"), (5, b"")),
    )
    assert parse_proxy_header(data + b"GET / HTTP/1.1\r\n\r\n") == expected
    assert parse_bytewise(data) == expected


def test_v2_tcp6() -> None:
    data = v2(1, 0x21, tcp6_block("2001:db8::17", "::1", 4711, 443))
    assert parse_proxy_header(data) == ProxyHeader(
        2, "PROXY", "TCP6", ("2001:db8::17", 4711), ("::1", 443), 52
    )


@pytest.mark.parametrize(
    ("command", "family", "block", "name", "command_name"),
    [
        # LOCAL: a health check of the balancer's own; the block is skipped, whatever it is.
        (0, 0x00, b"", "UNKNOWN", "LOCAL"),
        (0, 0x11, tcp4_block("1.2.3.4", "5.6.7.8", 1, 2), "TCP4", "LOCAL"),
        (0, 0x11, b"\x01\x02", "TCP4", "LOCAL"),
        # AF_UNSPEC / UNSPEC protocol: address information ignored.
        (1, 0x00, b"anything at all", "UNKNOWN", "PROXY"),
        (1, 0x10, b"", "UNKNOWN", "PROXY"),
        # No IP endpoint of a TCP connection: the connection's own stand.
        (
            1,
            0x31,
            b"/run/client.sock".ljust(108, b"\0") + b"/run/lb".ljust(108, b"\0"),
            "UNIX",
            "PROXY",
        ),
        (1, 0x12, tcp4_block("1.2.3.4", "5.6.7.8", 1, 2), "UDP4", "PROXY"),
        (1, 0x22, tcp6_block("::2", "::1", 1, 2), "UDP6", "PROXY"),
        (1, 0x32, bytes(216), "UNIX-DGRAM", "PROXY"),
    ],
)
def test_v2_without_an_ip_endpoint(
    command: int, family: int, block: bytes, name: str, command_name: str
) -> None:
    header = parse_proxy_header(v2(command, family, block))
    assert header == ProxyHeader(2, command_name, name, None, None, 16 + len(block))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SIG[:5] + b"\x01", "not the PROXY v2 signature"),
        (SIG + b"\x11", "version 1"),
        (SIG + b"\x31", "version 3"),
        (SIG + b"\x22", "command 2"),
        (SIG + b"\x2f", "command 15"),
        (SIG + b"\x21\x41", "address family 4"),
        (SIG + b"\x21\x13", "transport protocol 3"),
        (v2(1, 0x11, b"\x01" * 11), "TCP4 needs 12 address bytes"),
        (v2(1, 0x21, b"\x01" * 35), "TCP6 needs 36 address bytes"),
        (v2(1, 0x31, b"\x01" * 215), "UNIX needs 216 address bytes"),
        (v2(1, 0x11, tcp4_block("1.2.3.4", "5.6.7.8", 1, 2) + b"\x01\x00"), "cut short"),
        (
            v2(1, 0x11, tcp4_block("1.2.3.4", "5.6.7.8", 1, 2) + b"\x01\x00\x05abcd"),
            "TLV of 5 bytes runs past",
        ),
    ],
)
def test_v2_malformed_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ProxyHeaderError, match=message):
        parse_proxy_header(data)


def test_v2_waits_for_its_whole_length() -> None:
    data = v2(1, 0x11, tcp4_block("1.2.3.4", "5.6.7.8", 1, 2) + b"\x04\x00\x10" + bytes(16))
    assert parse_proxy_header(data[:-1]) is None
    assert parse_proxy_header(data) is not None
    # The bytes after the header are the client's: never read as part of it.
    assert parse_proxy_header(data + b"\x01\x00\x10GET")
    assert parse_proxy_header(data + b"\x01\x00\x10GET").length == len(data)  # type: ignore[union-attr]


# -- properties -------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)
ports = st.integers(0, 65535)


@given(src=ipv4, dst=ipv4, sport=ports, dport=ports, rest=st.binary(max_size=40))
def test_v1_tcp4_round_trip(src: object, dst: object, sport: int, dport: int, rest: bytes) -> None:
    line = f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()
    header = parse_proxy_header(line + rest)
    assert header == ProxyHeader(
        1, "PROXY", "TCP4", (str(src), sport), (str(dst), dport), len(line)
    )


@given(src=ipv6, dst=ipv6, sport=ports, dport=ports, exploded=st.booleans())
def test_v1_tcp6_round_trip(
    src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, sport: int, dport: int, exploded: bool
) -> None:
    def text(address: ipaddress.IPv6Address) -> str:
        return address.exploded if exploded else address.compressed

    line = f"PROXY TCP6 {text(src)} {text(dst)} {sport} {dport}\r\n".encode()
    header = parse_bytewise(line)
    assert header == ProxyHeader(
        1, "PROXY", "TCP6", (str(src), sport), (str(dst), dport), len(line)
    )


@given(
    src=ipv6,
    dst=ipv6,
    sport=ports,
    dport=ports,
    tlvs=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=30)), max_size=4),
)
def test_v2_tcp6_round_trip(
    src: ipaddress.IPv6Address,
    dst: ipaddress.IPv6Address,
    sport: int,
    dport: int,
    tlvs: list[tuple[int, bytes]],
) -> None:
    vectors = b"".join(bytes([kind]) + struct.pack("!H", len(v)) + v for kind, v in tlvs)
    data = v2(1, 0x21, tcp6_block(str(src), str(dst), sport, dport) + vectors)
    header = parse_bytewise(data)
    assert header.client == (str(src), sport)
    assert header.server == (str(dst), dport)
    assert header.tlvs == tuple(tlvs)
    assert header.length == len(data)


def _invariant(data: bytes) -> None:
    """Whatever the bytes: a header no longer than them, "need more", or the one error."""
    try:
        header = parse_proxy_header(data)
    except ProxyHeaderError:
        return
    if header is not None:
        assert 0 < header.length <= len(data)


@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _invariant(data)


@given(st.sampled_from([b"PROXY ", SIG]), st.binary(max_size=300))
def test_fuzz_after_a_valid_start(start: bytes, tail: bytes) -> None:
    _invariant(start + tail)
    _invariant(start + b"\x21" + tail)


@given(st.binary(min_size=1, max_size=120))
def test_fuzz_v1_lines(body: bytes) -> None:
    _invariant(b"PROXY " + body + b"\r\n")
