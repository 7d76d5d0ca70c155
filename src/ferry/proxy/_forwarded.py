"""The client and scheme a trusted proxy in front reports: RFC 7239 ``Forwarded``, and
the de facto ``X-Forwarded-For`` / ``X-Forwarded-Proto``.

Who may be believed, and how far:

* Only a trusted peer's headers count (``TrustedPeers``); from anyone else they are
  ignored, whatever they say.
* Each proxy appends the address it received the request from, so the list is read from
  the right: past every hop that is itself trusted, the first one that is not is the
  client. The leftmost entry is whatever the client chose to write: never taken unless
  every hop after it is trusted.
* ``Forwarded`` is preferred when present, but a proxy that writes only
  ``X-Forwarded-For`` passes a client's own ``Forwarded`` through untouched (nginx and
  HAProxy's ``option forwardfor`` both do). So when both are present and name different
  clients (or schemes), neither is believed: the connection's own values stand. A proxy
  that writes both writes the same client into both.
* A malformed value is ignored, never an error (the request is served as if the header
  were absent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ._trust import TrustedPeers, parse_ip

__all__ = ["Forwarding", "forwarded_from", "parse_forwarded", "resolve_forwarding"]

_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED: Final = r'"(?:[^"\\\r\n]|\\[^\r\n])*"'  # RFC 9110 §5.6.4 quoted-string
# RFC 7239 §4: forwarded-pair = token "=" value; value = token / quoted-string. Pairs are
# split by ";" within an element and elements by "," (OWS allowed around both).
_PAIR: Final = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*([;,]|$)")
_QUOTED_PAIR: Final = re.compile(r"\\(.)")
# RFC 7239 §6: node = nodename [ ":" node-port ]; §6.3 obfnode / obfport.
_OBFUSCATED: Final = re.compile(r"_[A-Za-z0-9._-]+")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_SCHEMES: Final = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What the proxy headers establish about a request.

    ``client`` replaces the connection's peer when ``names_client`` is true: ``(host,
    port)`` (port 0 when not given), or ``None`` when the proxy says the client is
    ``unknown`` (RFC 7239 §6.2). A host is an IP address in canonical form or an
    obfuscated identifier (§6.3, ``_hidden``). ``scheme`` is ``"http"`` or ``"https"``
    (a WebSocket's ``ws``/``wss`` follows from it), or ``None`` to keep the connection's.
    """

    names_client: bool
    client: tuple[str, int] | None
    scheme: str | None


_NOTHING: Final = Forwarding(False, None, None)


def resolve_forwarding(
    peer: str | None, headers: Iterable[tuple[bytes, bytes]], trusted: TrustedPeers
) -> Forwarding | None:
    """The client and scheme the proxy headers of a request from ``peer`` (its IP
    address, or ``None`` for a UNIX-socket peer) establish; ``None`` if they establish
    nothing: an untrusted peer, no proxy header, or headers that are malformed or
    contradict each other."""
    return forwarded_from(headers, trusted) if trusted.trusts(peer) else None


def forwarded_from(
    headers: Iterable[tuple[bytes, bytes]], trusted: TrustedPeers
) -> Forwarding | None:
    """``resolve_forwarding`` for a request whose peer is known to be trusted (the
    server asks once per connection, not once per request)."""
    forwarded: list[bytes] = []
    forwarded_for: list[bytes] = []
    forwarded_proto: list[bytes] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded.append(value)
        elif name == b"x-forwarded-for":
            forwarded_for.append(value)
        elif name == b"x-forwarded-proto":
            forwarded_proto.append(value)
    if not (forwarded or forwarded_for or forwarded_proto):
        return None
    standard = _from_forwarded(forwarded, trusted) if forwarded else None
    legacy = (
        _from_x_forwarded(forwarded_for, forwarded_proto, trusted)
        if forwarded_for or forwarded_proto
        else None
    )
    if standard is None or legacy is None:
        found = standard or legacy
    else:
        found = _agreeing(standard, legacy)
    return None if found is None or found == _NOTHING else found


def _agreeing(standard: Forwarding, legacy: Forwarding) -> Forwarding | None:
    """Both kinds of header were sent: believed only where they do not contradict."""
    if standard.names_client and legacy.names_client and standard.client != legacy.client:
        return None
    if standard.scheme and legacy.scheme and standard.scheme != legacy.scheme:
        return None
    names_client = standard.names_client or legacy.names_client
    client = standard.client if standard.names_client else legacy.client
    return Forwarding(names_client, client, standard.scheme or legacy.scheme)


# -- RFC 7239 Forwarded ---------------------------------------------------------------


def parse_forwarded(values: Sequence[bytes]) -> list[dict[str, str]] | None:
    """The elements of the ``Forwarded`` field lines ``values`` (RFC 7239 §4), each a
    dict of its parameters (names lowercased, quoted strings unquoted), in order; ``None``
    if any part is malformed or names a parameter twice in one element."""
    try:
        text = ",".join(value.decode("ascii") for value in values)
    except UnicodeDecodeError:
        return None
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None:
            return None
        name, value, separator = match.group(1).lower(), match.group(2), match.group(3)
        if name in element:
            return None  # §4: "Each parameter MUST NOT occur more than once per element"
        if value.startswith('"'):
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        element[name] = value
        if separator != ";":
            elements.append(element)
            element = {}
        position = match.end()
        if separator == "," and position == len(text):
            return None  # a trailing comma: an empty element
    return elements or None


def _from_forwarded(values: Sequence[bytes], trusted: TrustedPeers) -> Forwarding | None:
    elements = parse_forwarded(values)
    if elements is None:
        return None
    chosen = None
    for element in reversed(elements):
        if "for" not in element:
            return None  # a hop that names no node: the chain cannot be followed
        node = _node(element["for"])
        if node is None:
            return None
        chosen = element, node
        address = parse_ip(node[0]) if node[0] != "unknown" else None
        if address is None or not trusted.trusts_address(address):
            break
    assert chosen is not None  # parse_forwarded never returns an empty list
    element, (host, port) = chosen
    client = None if host == "unknown" else (host, port)
    scheme = _SCHEMES.get(element.get("proto", "").lower())
    return Forwarding(True, client, scheme)


def _node(text: str) -> tuple[str, int] | None:
    """An RFC 7239 §6 node as ``(host, port)``, or ``None`` if it is not one. IPv6
    addresses are bracketed (``"[2001:db8::1]:4711"``); obfuscated ports count as 0."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        address = parse_ip(host)
        if address is None or ":" not in host:
            return None  # brackets hold an IPv6 address (§6.1)
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
        host = str(address)
    else:
        host, _, port_text = text.partition(":") if text.count(":") == 1 else (text, "", "")
        port_text = port_text or None
        address = parse_ip(host)
        if address is not None and address.version == 4:
            host = str(address)
        elif host.lower() == "unknown":
            host = "unknown"
        elif _OBFUSCATED.fullmatch(host) is None:
            return None  # an IPv6 address without brackets, or no node at all
    port = _node_port(port_text)
    return None if port is None else (host, port)


def _node_port(text: str | None) -> int | None:
    if text is None or _OBFUSCATED.fullmatch(text):
        return 0
    if _PORT.fullmatch(text) and int(text) <= 65535:
        return int(text)
    return None


# -- X-Forwarded-For / X-Forwarded-Proto ----------------------------------------------


def _from_x_forwarded(
    forwarded_for: Sequence[bytes], forwarded_proto: Sequence[bytes], trusted: TrustedPeers
) -> Forwarding | None:
    hops = _list(forwarded_for)
    protos = _list(forwarded_proto)
    if hops is None or protos is None:
        return None
    position = -1  # the client's place in the list, from the left
    client = None
    for position in range(len(hops) - 1, -1, -1):
        client = _address_with_port(hops[position])
        if client is None:
            return None  # a hop that is no address: the chain cannot be followed
        address = parse_ip(client[0])
        if address is None or not trusted.trusts_address(address):
            break
    scheme = None
    if protos:
        # One proto per hop, aligned with the addresses; else the last proxy's own.
        chosen = protos[position] if len(protos) == len(hops) else protos[-1]
        scheme = _SCHEMES.get(chosen.lower())
    return Forwarding(client is not None, client, scheme)


def _list(values: Sequence[bytes]) -> list[str] | None:
    """The comma-separated members of field lines (RFC 9110 §5.6.1), OWS stripped;
    ``None`` for a value that is not ASCII or holds an empty member."""
    try:
        members = [m.strip(" \t") for v in values for m in v.decode("ascii").split(",")]
    except UnicodeDecodeError:
        return None
    return None if "" in members else members


def _address_with_port(text: str) -> tuple[str, int] | None:
    """An X-Forwarded-For member: an IP address, optionally ``[v6]:port`` or
    ``v4:port`` (some proxies add the port)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    address = parse_ip(host)
    if address is None:
        return None
    if not port_text:
        return str(address), 0
    if _PORT.fullmatch(port_text) is None or int(port_text) > 65535:
        return None
    return str(address), int(port_text)
