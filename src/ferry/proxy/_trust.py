"""Which peers may speak for the client: ``--forwarded-allow-ips``.

The value is uvicorn's and gunicorn's: a comma-separated list of IP addresses, CIDR
networks, ``*`` (every peer), and, new here, ``unix`` for a peer on a UNIX socket (a
proxy on the same host, such as nginx with ``proxy_pass http://unix:...``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .._errors import ConfigError

__all__ = ["IPAddress", "TrustedPeers", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 address as the IPv4 address it
    maps), or ``None`` if it is not one. Zones (``%eth0``) are not addresses here."""
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedPeers:
    """The set of peers whose proxy headers and PROXY headers are believed.

    ``TrustedPeers("127.0.0.1, 10.0.0.0/8, ::1, unix")``; raises ``ConfigError`` naming
    an entry that is none of an address, a network, ``*`` or ``unix``.
    """

    __slots__ = ("_addresses", "_any", "_networks", "_unix", "spec")

    def __init__(self, spec: str | Iterable[str]) -> None:
        entries = spec.split(",") if isinstance(spec, str) else list(spec)
        self.spec = ",".join(entry.strip() for entry in entries if entry.strip())
        self._any = False
        self._unix = False
        self._addresses: set[IPAddress] = set()
        self._networks: list[_Network] = []
        for entry in self.spec.split(",") if self.spec else ():
            self._add(entry)

    def _add(self, entry: str) -> None:
        if entry == "*":
            self._any = True
        elif entry.lower() == "unix":
            self._unix = True
        elif "/" in entry:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(f"forwarded_allow_ips: {entry!r} is not a network") from None
        elif (address := parse_ip(entry)) is not None:
            self._addresses.add(address)
        else:
            raise ConfigError(
                f"forwarded_allow_ips: {entry!r} is not an IP address, a network, '*' or 'unix'"
            )

    @property
    def trusts_anyone(self) -> bool:
        """Whether the list is ``*``."""
        return self._any

    def __bool__(self) -> bool:
        return self._any or self._unix or bool(self._addresses) or bool(self._networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether the connection's peer is trusted: ``peer`` is its IP address as text,
        or ``None`` for a UNIX-socket peer (trusted by ``unix`` or ``*``)."""
        if self._any:
            return True
        if peer is None:
            return self._unix
        address = parse_ip(peer)
        return address is not None and self.trusts_address(address)

    def trusts_address(self, address: IPAddress) -> bool:
        """Whether ``address`` (a hop named in a proxy header) is one of ours."""
        if self._any or address in self._addresses:
            return True
        return any(address in network for network in self._networks)

    def __repr__(self) -> str:
        return f"TrustedPeers({self.spec!r})"
