"""The proxy in front of the server, sans-IO: the PROXY protocol header a balancer
opens a connection with (HAProxy's versions 1 and 2), the ``Forwarded`` and
``X-Forwarded-*`` fields a proxy adds to a request, and which peers are believed.

Not the client's proxies (``ferry.client``, ``HTTP_PROXY``): these are the proxies a
server sits behind. Like ``ferry.http1``, nothing here does I/O.
"""

from __future__ import annotations

from .._errors import ProxyHeaderError
from ._forwarded import Forwarding, forwarded_from, parse_forwarded, resolve_forwarding
from ._header import MAX_V1_LENGTH, V2_SIGNATURE, ProxyHeader, parse_proxy_header
from ._trust import TrustedPeers, parse_ip

__all__ = [
    "MAX_V1_LENGTH",
    "V2_SIGNATURE",
    "Forwarding",
    "ProxyHeader",
    "ProxyHeaderError",
    "TrustedPeers",
    "forwarded_from",
    "parse_forwarded",
    "parse_ip",
    "parse_proxy_header",
    "resolve_forwarding",
]
