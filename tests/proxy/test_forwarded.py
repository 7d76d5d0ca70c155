"""Who the client is behind a proxy: RFC 7239 Forwarded, X-Forwarded-For/-Proto, and
the trusted peers. Every spoofing attempt below must leave the connection's own values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry import ConfigError
from ferry.proxy import Forwarding, TrustedPeers, parse_forwarded, resolve_forwarding

LOCAL = TrustedPeers("127.0.0.1")
CHAIN = TrustedPeers("127.0.0.1, 10.0.0.0/8, ::1, unix")


def resolve(
    *fields: tuple[bytes, bytes], peer: str | None = "127.0.0.1", trusted: TrustedPeers = CHAIN
) -> Forwarding | None:
    return resolve_forwarding(peer, list(fields), trusted)


def client(host: str, port: int = 0, scheme: str | None = None) -> Forwarding:
    return Forwarding(True, (host, port), scheme)


# -- trusted peers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "peer", "trusted"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("127.0.0.1", "::ffff:127.0.0.1", True),  # an IPv4-mapped peer is its IPv4 address
        ("127.0.0.1", None, False),  # a UNIX-socket peer needs "unix"
        ("unix", None, True),
        ("UNIX", None, True),
        ("unix", "127.0.0.1", False),
        ("*", None, True),
        ("*", "203.0.113.9", True),
        ("10.0.0.0/8", "10.200.3.4", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("10.0.0.1/8", "10.9.9.9", True),  # host bits in a network are forgiven, as gunicorn
        ("2001:db8::/32", "2001:db8:1::5", True),
        ("2001:db8::/32", "10.0.0.1", False),
        ("::1", "::1", True),
        ("", "127.0.0.1", False),
        ("127.0.0.1", "not an address", False),
        ("127.0.0.1", "fe80::1%eth0", False),
    ],
)
def test_trusted_peers(spec: str, peer: str | None, trusted: bool) -> None:
    assert TrustedPeers(spec).trusts(peer) is trusted


def test_trusted_peers_from_a_list_and_their_spec() -> None:
    peers = TrustedPeers([" 127.0.0.1", "10.0.0.0/8 ", ""])
    assert peers.spec == "127.0.0.1,10.0.0.0/8"
    assert bool(peers)
    assert not TrustedPeers("")
    assert TrustedPeers("*").trusts_anyone
    assert repr(peers) == "TrustedPeers('127.0.0.1,10.0.0.0/8')"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("127.0.0.1, localhost", "'localhost' is not an IP address, a network, '\\*' or 'unix'"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a network"),
        ("300.1.1.1", "'300.1.1.1' is not an IP address"),
    ],
)
def test_a_bad_entry_is_a_config_error_naming_it(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrustedPeers(spec)


# -- X-Forwarded-For / X-Forwarded-Proto --------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([(b"x-forwarded-for", b"203.0.113.7")], client("203.0.113.7")),
        ([(b"x-forwarded-for", b"203.0.113.7:5123")], client("203.0.113.7", 5123)),
        ([(b"x-forwarded-for", b"[2001:db8::7]:80")], client("2001:db8::7", 80)),
        ([(b"x-forwarded-for", b"2001:DB8::7")], client("2001:db8::7")),
        # The rightmost hop that is not trusted is the client: never the leftmost, which
        # the client wrote itself.
        ([(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")], client("203.0.113.7")),
        ([(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7, 10.1.2.3")], client("203.0.113.7")),
        (
            [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"203.0.113.7")],
            client("203.0.113.7"),
        ),
        # Every hop trusted: the leftmost is the client.
        ([(b"x-forwarded-for", b"10.0.0.5,10.0.0.6")], client("10.0.0.5")),
        (
            [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")],
            client("203.0.113.7", 0, "https"),
        ),
        ([(b"x-forwarded-proto", b"HTTPS")], Forwarding(False, None, "https")),
        ([(b"x-forwarded-proto", b"wss")], Forwarding(False, None, "https")),
        ([(b"x-forwarded-proto", b"ws")], Forwarding(False, None, "http")),
        # One proto per hop, aligned with the hops; else the last (the nearest proxy's).
        (
            [
                (b"x-forwarded-for", b"203.0.113.7, 10.0.0.9"),
                (b"x-forwarded-proto", b"https, http"),
            ],
            client("203.0.113.7", 0, "https"),
        ),
        (
            [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"http, https")],
            client("203.0.113.7", 0, "https"),
        ),
    ],
)
def test_x_forwarded(fields: list[tuple[bytes, bytes]], expected: Forwarding) -> None:
    assert resolve(*fields) == expected


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [(b"x-forwarded-for", b"")],
        [(b"x-forwarded-for", b"203.0.113.7,")],
        [(b"x-forwarded-for", b"203.0.113.7,,1.2.3.4")],
        [(b"x-forwarded-for", b"example.com")],
        [(b"x-forwarded-for", b"unknown")],
        [(b"x-forwarded-for", b"1.2.3.4:99999")],
        [(b"x-forwarded-for", b"1.2.3.4:http")],
        [(b"x-forwarded-for", b"[2001:db8::7")],
        [(b"x-forwarded-for", b"[2001:db8::7]x")],
        [(b"x-forwarded-for", b"fe80::1%25eth0")],
        [(b"x-forwarded-for", "1.2.3.4\u00e9".encode("latin-1"))],
        [(b"x-forwarded-proto", b"gopher")],
        # A hop that is no address, reached from the right: the chain cannot be followed.
        [(b"x-forwarded-for", b"6.6.6.6, junk, 10.0.0.1")],
    ],
)
def test_malformed_or_empty_x_forwarded_is_ignored(fields: list[tuple[bytes, bytes]]) -> None:
    assert resolve(*fields) is None


def test_a_garbage_hop_left_of_the_client_does_not_matter() -> None:
    assert resolve((b"x-forwarded-for", b"junk, 203.0.113.7")) == client("203.0.113.7")


# -- Forwarded (RFC 7239) -----------------------------------------------------------------


def test_parse_forwarded_examples_of_rfc_7239() -> None:
    # RFC 7239 §4 and §7.1's examples.
    assert parse_forwarded([b'for="_gazonk"']) == [{"for": "_gazonk"}]
    assert parse_forwarded([b'For="[2001:db8:cafe::17]:4711"']) == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert parse_forwarded([b"for=192.0.2.60;proto=http;by=203.0.113.43"]) == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert parse_forwarded([b"for=192.0.2.43, for=198.51.100.17"]) == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17"},
    ]
    assert parse_forwarded([b"for=192.0.2.43", b"for=198.51.100.17;proto=https"]) == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17", "proto": "https"},
    ]
    assert parse_forwarded([b'for="a\\"b;c,d" ; proto=https']) == [
        {"for": 'a"b;c,d', "proto": "https"}
    ]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"for",
        b"for=",
        b"for=1.2.3.4,",
        b"for=1.2.3.4;;proto=http",
        b"for=1.2.3.4;for=5.6.7.8",
        b'for="1.2.3.4',
        b"for=[2001:db8::1]",  # RFC 7239 §6: ":" and "[]" are no token characters:
        b"for=192.0.2.43:47011",  # a node with them is a quoted-string
        b"for=1.2.3.4 proto=http",
        "for=caf\u00e9".encode("latin-1"),
    ],
)
def test_parse_forwarded_refuses_malformed(value: bytes) -> None:
    assert parse_forwarded([value]) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"for=203.0.113.7", client("203.0.113.7")),
        (b'for="203.0.113.7:8443";proto=https', client("203.0.113.7", 8443, "https")),
        (b'for="[2001:db8:cafe::17]:4711"', client("2001:db8:cafe::17", 4711)),
        (b'for="[2001:db8:cafe::17]"', client("2001:db8:cafe::17")),
        (b'for="[::ffff:203.0.113.7]"', client("203.0.113.7")),
        (b"for=_hidden;proto=https", client("_hidden", 0, "https")),
        (b'for="_hidden:_port"', client("_hidden")),
        (b'for="203.0.113.7:_abc"', client("203.0.113.7")),
        (b"for=unknown", Forwarding(True, None, None)),
        (b"FOR=203.0.113.7;PROTO=HTTPS", client("203.0.113.7", 0, "https")),
        # From the right, past our own proxies, to the first hop that is not ours.
        (b"for=6.6.6.6, for=203.0.113.7, for=10.0.0.2", client("203.0.113.7")),
        (b"for=6.6.6.6;proto=http, for=203.0.113.7;proto=https", client("203.0.113.7", 0, "https")),
        (b"for=10.0.0.1, for=10.0.0.2", client("10.0.0.1")),
        (b'for="[::1]";proto=https', client("::1", 0, "https")),
        # The proto of an unknown scheme is no scheme.
        (b"for=203.0.113.7;proto=gopher", client("203.0.113.7")),
    ],
)
def test_forwarded(value: bytes, expected: Forwarding) -> None:
    assert resolve((b"forwarded", value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        b"for=1.2.3.4;for=1.2.3.4",
        b"proto=https",  # a hop that names no node
        b"for=203.0.113.7, by=10.0.0.1",
        b"for=example.com",
        b"for=2001:db8::1",  # unbracketed IPv6
        b'for="[1.2.3.4]"',  # brackets hold IPv6 only
        b'for="[2001:db8::1"',
        b'for="[2001:db8::1]x"',
        b'for="203.0.113.7:65536"',
        b'for="203.0.113.7:port"',
    ],
)
def test_malformed_forwarded_is_ignored(value: bytes) -> None:
    assert resolve((b"forwarded", value)) is None


# -- both kinds, and spoofing ---------------------------------------------------------


def test_forwarded_and_x_forwarded_that_agree() -> None:
    assert resolve(
        (b"forwarded", b"for=203.0.113.7;proto=https"),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
    ) == client("203.0.113.7", 0, "https")
    assert resolve((b"forwarded", b"for=203.0.113.7"), (b"x-forwarded-proto", b"https")) == client(
        "203.0.113.7", 0, "https"
    )


def test_a_clients_own_forwarded_passed_through_by_an_x_forwarded_proxy_is_not_believed() -> None:
    # nginx ($proxy_add_x_forwarded_for) and HAProxy (option forwardfor) append to
    # X-Forwarded-For and leave the client's Forwarded as it was.
    assert (
        resolve((b"forwarded", b"for=6.6.6.6;proto=https"), (b"x-forwarded-for", b"203.0.113.7"))
        is None
    )
    assert (
        resolve(
            (b"forwarded", b"for=203.0.113.7;proto=https"),
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-forwarded-proto", b"http"),
        )
        is None
    )


@pytest.mark.parametrize(
    "fields",
    [
        [(b"x-forwarded-for", b"6.6.6.6")],
        [(b"x-forwarded-proto", b"https")],
        [(b"forwarded", b"for=6.6.6.6;proto=https")],
        [(b"forwarded", b"for=unknown")],
    ],
)
@pytest.mark.parametrize("peer", ["203.0.113.50", "10.0.0.1", "::2", None])
def test_an_untrusted_peer_is_never_believed(
    fields: list[tuple[bytes, bytes]], peer: str | None
) -> None:
    assert resolve(*fields, peer=peer, trusted=LOCAL) is None


def test_field_names_other_than_the_three_are_not_read() -> None:
    assert resolve((b"x-real-ip", b"6.6.6.6"), (b"x-forwarded-host", b"evil")) is None


# -- properties -------------------------------------------------------------------------

untrusted = st.ip_addresses(v=4).filter(lambda a: not a.is_private and not a.is_loopback)


@given(spoofed=st.lists(st.ip_addresses(), max_size=4), real=untrusted, proxies=st.integers(0, 3))
def test_the_leftmost_entries_never_win(spoofed: list[object], real: object, proxies: int) -> None:
    """Whatever a client writes in front, the address our first proxy saw wins."""
    hops = [str(a) for a in spoofed] + [str(real)] + [f"10.0.0.{i + 1}" for i in range(proxies)]
    found = resolve((b"x-forwarded-for", ", ".join(hops).encode()))
    assert found == client(str(real))


@given(st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=20))
def test_fuzz_never_raises(forwarded: bytes, forwarded_for: bytes, proto: bytes) -> None:
    found = resolve(
        (b"forwarded", forwarded),
        (b"x-forwarded-for", forwarded_for),
        (b"x-forwarded-proto", proto),
    )
    assert found is None or isinstance(found, Forwarding)
