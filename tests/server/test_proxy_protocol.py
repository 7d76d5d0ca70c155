"""``--proxy-protocol`` over real sockets: the PROXY header's client reaches the scope;
a malformed header, none, or one from an untrusted peer closes the connection unanswered."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
from typing import Any

import pytest

from ferry.proxy import V2_SIGNATURE

from ..support import connect, read_until_close, serving

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    seen = {"client": scope["client"], "server": scope["server"], "scheme": scope["scheme"]}
    body = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def v2_tcp4(src: str, dst: str, sport: int, dport: int, command: int = 1) -> bytes:
    block = (
        ipaddress.IPv4Address(src).packed
        + ipaddress.IPv4Address(dst).packed
        + struct.pack("!HH", sport, dport)
        + b"\x05\x00\x04abcd"  # a TLV (PP2_TYPE_UNIQUE_ID), skipped
    )
    return V2_SIGNATURE + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(block)) + block


def send(port: int, data: bytes, *, bytewise: bool = False) -> bytes:
    """Send ``data`` (half-closing after it) and read to the close; a server that has
    closed already makes the sending fail, which is no error here."""
    with connect(port) as sock:
        try:
            for piece in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_until_close(sock)


def body_of(response: bytes) -> Any:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), response
    return json.loads(body)


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "byte-at-a-time"])
def test_the_header_names_the_client_and_server(bytewise: bool) -> None:
    with serving(echo, lifespan="off", proxy_protocol=True) as server:
        v1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n"
        assert body_of(send(server.port, v1 + REQUEST, bytewise=bytewise)) == {
            "client": ["203.0.113.7", 51000],
            "server": ["198.51.100.1", 443],
            "scheme": "http",
        }
        v2 = v2_tcp4("203.0.113.8", "198.51.100.2", 52000, 8443)
        assert body_of(send(server.port, v2 + REQUEST, bytewise=bytewise)) == {
            "client": ["203.0.113.8", 52000],
            "server": ["198.51.100.2", 8443],
            "scheme": "http",
        }


def test_a_health_check_keeps_the_connections_own_addresses() -> None:
    with serving(echo, lifespan="off", proxy_protocol=True) as server:
        for header in (b"PROXY UNKNOWN\r\n", v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2, command=0)):
            found = body_of(send(server.port, header + REQUEST))
            assert found["client"][0] == "127.0.0.1"
            assert found["server"] == ["127.0.0.1", server.port]


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # no header at all
        b"PROXY TCP4 203.0.113.7 198.51.100.1 51000 0443\r\n" + REQUEST,
        b"PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\n" + REQUEST,
        V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12) + REQUEST,
        b"PROXY TCP4 203.0.113.7",  # cut short: the client leaves
    ],
    ids=["none", "leading-zero", "lone-lf", "v2-command-2", "incomplete"],
)
def test_a_bad_or_missing_header_closes_the_connection_unanswered(data: bytes) -> None:
    with serving(echo, lifespan="off", proxy_protocol=True) as server:
        assert send(server.port, data) == b""


def test_an_untrusted_peer_may_not_send_one() -> None:
    options = {"proxy_protocol": True, "forwarded_allow_ips": "10.0.0.0/8"}
    with serving(echo, lifespan="off", **options) as server:
        header = b"PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n"
        assert send(server.port, header + REQUEST) == b""


def test_without_the_option_a_header_is_a_bad_request() -> None:
    with serving(echo, lifespan="off") as server:
        response = send(server.port, b"PROXY TCP4 203.0.113.7 198.51.100.1 1 2\r\n" + REQUEST)
        assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_header_that_does_not_come_in_time_is_closed_by_the_head_timeout() -> None:
    options = {"proxy_protocol": True, "head_timeout": 0.5}
    with serving(echo, lifespan="off", **options) as server, connect(server.port, 10) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.7")  # and nothing more, never closing
        assert read_until_close(sock) == b""


def test_after_a_header_the_named_client_decides_whose_fields_count() -> None:
    """An L4 balancer passes the client's bytes on: its X-Forwarded-For is its own."""
    with serving(echo, lifespan="off", proxy_protocol=True) as server:
        header = b"PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n"
        spoof = REQUEST.replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        assert body_of(send(server.port, header + spoof))["client"] == ["203.0.113.7", 51000]
