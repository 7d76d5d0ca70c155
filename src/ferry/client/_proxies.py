"""Which proxy, if any, carries the connections to an origin: the client's ``proxy``
argument, else the environment as curl, requests and httpx read it (``http_proxy``,
``https_proxy``, ``all_proxy``, ``no_proxy``, lower case before upper case).

``NO_PROXY`` is a comma-separated list of entries, each bypassing the proxy for:

- ``*``: every host;
- ``example.com``, ``.example.com``, ``*.example.com``: that domain and every name below
  it (not ``badexample.com``);
- ``192.168.0.7``, ``::1``, ``10.0.0.0/8``, ``fe80::/10``: those addresses, when the URL
  names its host by address (names are not resolved, as curl does);
- any of these with ``:PORT`` (``[::1]:8080`` for IPv6): that port only.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .._errors import LocalProtocolError
from ._models import Proxy

__all__ = ["Bypass", "ProxyRoutes"]

Origin = tuple[str, str, int]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Bypass:
    """One ``NO_PROXY`` entry: a domain or an address range, on one port or all."""

    domain: str | None
    network: _Network | None
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> Bypass | None:
        """The entry (stripped, any case); None for an empty one."""
        host, port = _split_port(entry.strip().lower())
        if not host:
            return None
        try:
            return cls(None, ipaddress.ip_network(host, strict=False), port)
        except ValueError:
            domain = host.removeprefix("*").strip(".")
            return cls(domain, None, port) if domain else None  # "*" alone: bypass_all

    def matches(self, host: str, port: int) -> bool:
        """Whether a request to ``host`` (lower case, IPv6 without brackets) on ``port``
        bypasses the proxy."""
        if self.port is not None and port != self.port:
            return False
        if self.network is None:
            host = host.rstrip(".")
            return host == self.domain or host.endswith(f".{self.domain}")
        try:
            return ipaddress.ip_address(host) in self.network
        except ValueError:  # a name: not resolved
            return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` or ``[v6]:port`` into its parts (a bare IPv6 address has no port)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        digits = rest.removeprefix(":")
        return host, int(digits) if rest.startswith(":") and digits.isdigit() else None
    host, colon, digits = entry.partition(":")
    if colon and digits.isdigit():
        return host, int(digits)
    return entry, None


@dataclass(frozen=True, slots=True)
class ProxyRoutes:
    """The proxy for ``http://`` origins and for ``https://`` ones (None: straight
    there), and the hosts that bypass both."""

    http: Proxy | None = None
    https: Proxy | None = None
    bypass: tuple[Bypass, ...] = ()
    bypass_all: bool = False

    def proxy_for(self, origin: Origin) -> Proxy | None:
        scheme, host, port = origin
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.bypass_all:
            return None
        if any(entry.matches(host, port) for entry in self.bypass):
            return None
        return proxy

    @classmethod
    def build(
        cls,
        proxy: str | None,
        no_proxy: str | None,
        *,
        trust_env: bool,
        environ: Mapping[str, str] | None = None,
    ) -> ProxyRoutes:
        """The routes for a client: ``proxy`` for every origin when given (the
        environment is then not read, as in httpx); else, with ``trust_env``, the
        environment's. ``no_proxy`` (a NO_PROXY list) replaces the environment's.
        Raises LocalProtocolError for a proxy URL that is not ``http://``."""
        environ = os.environ if environ is None else environ
        http: Proxy | None
        https: Proxy | None
        if proxy is not None:
            http = https = Proxy.parse(_with_scheme(proxy))
        elif trust_env:
            http, https = _proxy_from(environ, "http"), _proxy_from(environ, "https")
            no_proxy = _getenv(environ, "no_proxy") if no_proxy is None else no_proxy
        else:
            http = https = None
        entries = (no_proxy or "").split(",")
        bypass = tuple(entry for e in entries if (entry := Bypass.parse(e)) is not None)
        return cls(http, https, bypass, any(e.strip() == "*" for e in entries))


def _proxy_from(environ: Mapping[str, str], scheme: str) -> Proxy | None:
    for name in (f"{scheme}_proxy", "all_proxy"):
        value = _getenv(environ, name)
        if value is None:
            continue
        try:
            return Proxy.parse(_with_scheme(value))
        except LocalProtocolError as exc:
            raise LocalProtocolError(f"{name} from the environment: {exc}") from None
    return None


def _with_scheme(url: str) -> str:
    """curl and requests take a bare ``host:port`` for an http:// proxy."""
    return url if "://" in url else f"http://{url}"


def _getenv(environ: Mapping[str, str], name: str) -> str | None:
    """``name`` in lower case, else in upper case; None when unset or empty. Upper-case
    ``HTTP_PROXY`` is ignored under CGI (``REQUEST_METHOD`` set), where a request's
    ``Proxy:`` header field arrives as that variable (httpoxy, CVE-2016-5385)."""
    value = environ.get(name, "").strip()
    if not value and (name != "http_proxy" or "REQUEST_METHOD" not in environ):
        value = environ.get(name.upper(), "").strip()
    return value or None
