"""The PROXY protocol header, versions 1 and 2, parsed sans-IO.

A balancer in front (HAProxy ``send-proxy``/``send-proxy-v2``, cloud network
balancers) opens each TCP connection with one header that names the original client,
then relays the client's bytes. The specification is HAProxy's
``doc/proxy-protocol.txt``; the section cited in each rule below is of that text.

``parse_proxy_header`` is a pure function of the bytes received so far: the caller keeps
its buffer and calls it again as more arrive. It answers ``None`` (a prefix of a header:
more bytes needed), a ``ProxyHeader`` (whose ``length`` bytes the caller then drops), or
raises ``ProxyHeaderError`` as soon as the bytes can no longer become a header (§2.1: "it
is recommended to abort the connection as soon as possible").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from .._errors import ProxyHeaderError

__all__ = ["MAX_V1_LENGTH", "V2_SIGNATURE", "ProxyHeader", "parse_proxy_header"]

V1_PREFIX: Final = b"PROXY "
MAX_V1_LENGTH: Final = 107  # §2.1: the longest line, CRLF included ("PROXY UNKNOWN" + v6)
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"  # §2.2: 12 bytes, a NUL in 5th place
_V2_FIXED: Final = 16  # signature, version/command, family/protocol, length

# §2.1: "exactly 4 integers in the range [0..255] ... Heading zeroes are not permitted".
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# §2.1: groups of hex digits and colons (one "::"); a dotted tail as inet_pton takes it.
# No "%zone": an address of the far side of a balancer has no zone of ours.
_IPV6_CHARS: Final = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_PORT: Final = re.compile(r"0|[1-9][0-9]{0,4}")  # §2.1: decimal, no heading zeroes

# §2.2, the 14th byte: address family (high nibble) and transport protocol (low nibble).
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0, 1, 2, 3
_STREAM, _DGRAM = 1, 2
_ADDRESS_LENGTH: Final = {_AF_INET: 12, _AF_INET6: 36, _AF_UNIX: 216}


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One parsed PROXY header.

    ``client`` and ``server`` are the original connection's endpoints, ``(host, port)``
    with the host in its canonical text form; they are ``None`` when the header names
    no IP endpoint: a v2 ``LOCAL`` connection (the balancer's own health check), v1
    ``UNKNOWN``, an unspecified family or protocol, a UNIX-socket client, or a datagram
    protocol, which an HTTP connection cannot be. Then the connection's own endpoints
    stand (§2.1 "use the real connection's parameters", §2.2 LOCAL).
    """

    version: int  # 1 or 2
    command: str  # "PROXY", or "LOCAL" (v2 only)
    family: str  # "TCP4", "TCP6", "UDP4", "UDP6", "UNIX", "UNIX-DGRAM" or "UNKNOWN"
    client: tuple[str, int] | None
    server: tuple[str, int] | None
    length: int  # bytes of the stream the header took, from the first
    tlvs: tuple[tuple[int, bytes], ...] = ()  # v2's type-length-value vectors, in order


def parse_proxy_header(data: bytes) -> ProxyHeader | None:
    """The PROXY header at the start of ``data``, ``None`` if ``data`` is a proper
    prefix of one; raises ``ProxyHeaderError`` naming the rule broken otherwise."""
    if not data:
        return None
    if data[0] == V1_PREFIX[0]:
        return _parse_v1(data)
    if data[0] == V2_SIGNATURE[0]:
        return _parse_v2(data)
    # §2.2: "otherwise the protocol is not covered by this specification and the
    # connection must be dropped".
    raise ProxyHeaderError("the connection did not start with a PROXY protocol header")


# -- version 1: one line of text -------------------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    head = data[: len(V1_PREFIX)]
    if head != V1_PREFIX[: len(head)]:
        raise ProxyHeaderError('a PROXY v1 header starts with "PROXY "')
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end < 0:
        # §2.1: "must not tolerate a single CR or LF character to end the line".
        seen = data[:MAX_V1_LENGTH]
        if b"\n" in seen or b"\r" in seen[:-1]:
            raise ProxyHeaderError("a PROXY v1 line ends with CRLF, not a lone CR or LF")
        if len(data) >= MAX_V1_LENGTH:
            raise ProxyHeaderError(f"no CRLF in the first {MAX_V1_LENGTH} bytes of PROXY v1")
        return None
    line = data[len(V1_PREFIX) : end]
    if b"\r" in line or b"\n" in line:
        raise ProxyHeaderError("a PROXY v1 line ends with CRLF, not a lone CR or LF")
    return _v1_fields(line, end + 2)


def _v1_fields(line: bytes, length: int) -> ProxyHeader:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("a PROXY v1 line is US-ASCII") from None
    protocol, _, rest = text.partition(" ")
    if protocol == "UNKNOWN":
        # §2.1: "the receiver must ignore anything presented before the CRLF".
        return ProxyHeader(1, "PROXY", "UNKNOWN", None, None, length)
    if protocol not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"PROXY v1 protocol {protocol!r} (TCP4, TCP6 or UNKNOWN)")
    fields = rest.split(" ")  # §2.1: "exactly one space" between fields
    if len(fields) != 4:
        raise ProxyHeaderError("a PROXY v1 line has two addresses and two ports")
    address = _ipv4 if protocol == "TCP4" else _ipv6
    client = (address(fields[0]), _port(fields[2]))
    server = (address(fields[1]), _port(fields[3]))
    return ProxyHeader(1, "PROXY", protocol, client, server, length)


def _ipv4(text: str) -> str:
    if _IPV4.fullmatch(text) is None:
        raise ProxyHeaderError(f"{text!r} is not an IPv4 address in dotted decimal")
    return text


def _ipv6(text: str) -> str:
    if _IPV6_CHARS.fullmatch(text) is None:
        raise ProxyHeaderError(f"{text!r} is not an IPv6 address")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise ProxyHeaderError(f"{text!r} is not an IPv6 address") from None


def _port(text: str) -> int:
    if _PORT.fullmatch(text) is None or int(text) > 65535:
        raise ProxyHeaderError(f"{text!r} is not a port (0 to 65535, no heading zeroes)")
    return int(text)


# -- version 2: binary ------------------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | None:
    head = data[: len(V2_SIGNATURE)]
    if head != V2_SIGNATURE[: len(head)]:
        raise ProxyHeaderError("the bytes are not the PROXY v2 signature")
    if len(data) > 12:
        _check_version_command(data[12])
    if len(data) > 13:
        _check_family(data[13])
    if len(data) < _V2_FIXED:
        return None
    # §2.2: "the length of the protocol header in bytes is always exactly 16 + this value".
    length = _V2_FIXED + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return None  # §2.2: "must not start to parse an address before" all is received
    return _v2_fields(data[12] & 0x0F, data[13], data[_V2_FIXED:length], length)


def _check_version_command(byte: int) -> None:
    # §2.2: the version "must always be sent as \x2 and the receiver must only accept
    # this value"; commands other than LOCAL (0) and PROXY (1): "must drop connections".
    if byte >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 header with version {byte >> 4}")
    if byte & 0x0F > 1:
        raise ProxyHeaderError(f"PROXY v2 command {byte & 0x0F} (0 LOCAL or 1 PROXY)")


def _check_family(byte: int) -> None:
    # §2.2: other families and protocols "must be rejected as invalid by receivers".
    if byte >> 4 > _AF_UNIX:
        raise ProxyHeaderError(f"PROXY v2 address family {byte >> 4}")
    if byte & 0x0F > _DGRAM:
        raise ProxyHeaderError(f"PROXY v2 transport protocol {byte & 0x0F}")


def _v2_fields(command: int, family_byte: int, block: bytes, length: int) -> ProxyHeader:
    family, protocol = family_byte >> 4, family_byte & 0x0F
    name = _family_name(family, protocol)
    # §2.2 LOCAL: "must use the real connection endpoints and discard the protocol block
    # including the family"; UNSPEC: "should ignore address information" (the block is
    # skipped whole, its length being the one thing read).
    if command == 0 or name == "UNKNOWN":
        return ProxyHeader(2, "LOCAL" if command == 0 else "PROXY", name, None, None, length)
    addresses = _ADDRESS_LENGTH[family]
    if len(block) < addresses:
        raise ProxyHeaderError(f"PROXY v2 {name} needs {addresses} address bytes")
    tlvs = _tlvs(block, addresses)
    if family == _AF_UNIX or protocol != _STREAM:
        # No IP endpoint of a TCP connection: the connection's own stand.
        return ProxyHeader(2, "PROXY", name, None, None, length, tlvs)
    size = 4 if family == _AF_INET else 16
    source = ipaddress.ip_address(block[:size])
    destination = ipaddress.ip_address(block[size : 2 * size])
    ports = block[2 * size : 2 * size + 4]
    client = (str(source), int.from_bytes(ports[:2], "big"))
    server = (str(destination), int.from_bytes(ports[2:], "big"))
    return ProxyHeader(2, "PROXY", name, client, server, length, tlvs)


def _family_name(family: int, protocol: int) -> str:
    if family == _AF_UNSPEC or protocol == 0:
        return "UNKNOWN"
    if family == _AF_UNIX:
        return "UNIX" if protocol == _STREAM else "UNIX-DGRAM"
    kind = "TCP" if protocol == _STREAM else "UDP"
    return f"{kind}{4 if family == _AF_INET else 6}"


def _tlvs(block: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    """The type-length-value vectors after the addresses (§2.2.x); each must fit."""
    vectors = []
    offset = start
    while offset < len(block):
        if offset + 3 > len(block):
            raise ProxyHeaderError("a PROXY v2 TLV is cut short (3 bytes of type and length)")
        size = int.from_bytes(block[offset + 1 : offset + 3], "big")
        end = offset + 3 + size
        if end > len(block):
            raise ProxyHeaderError(f"a PROXY v2 TLV of {size} bytes runs past the header")
        vectors.append((block[offset], block[offset + 3 : end]))
        offset = end
    return tuple(vectors)
