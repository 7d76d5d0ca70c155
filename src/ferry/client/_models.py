"""What the async and blocking clients share that does no I/O: URLs, settings, request
bodies and header fields, response header lookups."""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import IO, SupportsIndex, overload
from urllib.parse import unquote, urljoin, urlsplit

from .._errors import LocalProtocolError, RemoteProtocolError
from ..http1 import Headers

__all__ = [
    "IDEMPOTENT_METHODS",
    "REDIRECT_STATUSES",
    "URL",
    "Body",
    "HeaderInput",
    "PoolLimits",
    "Proxy",
    "ResponseHeaders",
    "Timeouts",
    "basic_credentials",
    "build_headers",
    "content_charset",
    "encode_headers",
    "encode_method",
    "header_value",
    "keep_alive_timeout",
    "merge_headers",
    "prepare_body",
    "redirect",
    "split_userinfo",
]

IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
"""RFC 9110 §9.2.2: methods a client may resend automatically (RFC 9112 §9.3.1)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

Body = bytes | str | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes] | None
"""A request body: bytes or str (UTF-8) are sent with a Content-Length; a binary file
with its size when it has one; an iterator (or async iterator) of bytes is chunked."""

HeaderInput = dict[str, str] | list[tuple[str, str]] | None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each step may take, every one finite by default, and the request as a
    whole (``total``, no limit by default). None: no limit."""

    connect: float | None = 10.0
    """Opening a connection: DNS, TCP connect and TLS handshake together."""
    read: float | None = 30.0
    """Between two reads of response bytes (not the whole response)."""
    write: float | None = 30.0
    """Sending one piece of the request."""
    pool: float | None = 10.0
    """Waiting for a connection when the pool is at its limits."""
    total: float | None = None
    """The whole request, as curl's ``--max-time``: waiting for a connection, opening
    it, sending the request, the response head and reading the body (also a body the
    caller streams: its next read raises), every redirect of ``follow_redirects``
    included. None by default: a download may take long (TotalTimeout)."""


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections the pool opens and how long idle ones are kept."""

    max_connections: int = 100
    """Open connections in all, busy or idle."""
    max_per_host: int = 10
    """Open connections to one origin (scheme, host, port)."""
    max_idle_time: float = 60.0
    """Seconds an idle connection is kept; less when the server says ``Keep-Alive:
    timeout=N``: then it is retired one second before the server would close it."""


@dataclass(frozen=True, slots=True)
class URL:
    """An http(s) URL split into what a request needs (RFC 9110 §4.2, RFC 9112 §3.2)."""

    scheme: str
    host: str
    port: int
    target: bytes  # origin-form: path and query
    authority: bytes  # the Host field value

    def __str__(self) -> str:
        """The URL as a browser shows it: ``scheme://authority/path?query``."""
        return f"{self.scheme}://{self.authority.decode()}{self.target.decode()}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def path(self) -> str:
        """The path, percent-decoded (UTF-8)."""
        return unquote(self.target.partition(b"?")[0].decode("ascii"))

    @property
    def query(self) -> bytes:
        """The query, as sent (percent-encoded): what follows the ``?``."""
        return self.target.partition(b"?")[2]

    @classmethod
    def parse(cls, url: str) -> URL:
        """Raise LocalProtocolError unless ``url`` is an absolute http or https URL."""
        return _parse_url(url)

    @classmethod
    def _parse(cls, url: str) -> URL:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise LocalProtocolError(f"not an absolute http(s) URL: {url!r}")
        if parts.username is not None:
            # RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs.
            raise LocalProtocolError("userinfo in a URL is not supported; use a header")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
            host = parts.hostname.encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise LocalProtocolError(f"invalid URL {url!r}: {exc}") from None
        shown = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            shown += f":{port}"
        # As browsers do (WHATWG URL), characters a request target may not carry (a space,
        # non-ASCII, "<" ...) are percent-encoded as UTF-8; "%XX" sequences are kept.
        target = _PATH_UNSAFE.sub(_percent, parts.path or "/")
        if parts.query:
            target += "?" + _QUERY_UNSAFE.sub(_percent, parts.query)
        return cls(scheme, host, port, target.encode("ascii"), shown.encode("ascii"))

    def join(self, location: str) -> URL:
        """The URL a ``Location`` value names, resolved against this one (RFC 9110
        §10.2.2). Raises RemoteProtocolError unless it is an http(s) URL."""
        base = f"{self.scheme}://{self.authority.decode()}{self.target.decode()}"
        try:
            return URL.parse(urljoin(base, location))
        except LocalProtocolError as exc:
            raise RemoteProtocolError(f"cannot follow the redirect: {exc}") from None


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: ``http://`` requests go to it in absolute form (RFC 9112 §3.2.2),
    ``https://`` ones through a CONNECT tunnel (RFC 9110 §9.3.6)."""

    host: str
    port: int
    headers: Headers
    """Sent to the proxy: Proxy-Authorization when the proxy URL has a user."""

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """``http://[user:password@]host[:port]``; raise LocalProtocolError otherwise."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise LocalProtocolError(f"not an http:// proxy URL: {url!r}")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise LocalProtocolError(f"invalid proxy URL {url!r}: {exc}") from None
        headers: Headers = []
        if parts.username is not None:
            # RFC 9110 §11.7.2 with the Basic scheme (RFC 7617): user-id ":" password.
            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            token = base64.b64encode(user.encode("utf-8"))
            headers.append((b"Proxy-Authorization", b"Basic " + token))
        return cls(parts.hostname, port, headers)


# RFC 3986 §3.3: a path segment holds unreserved characters, sub-delims, ":" and "@"
# (and "%" as the start of a percent-encoding); §3.4: a query "/" and "?" too.
_PATH_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")
_QUERY_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and that part (percent-decoded), as
    browsers and httpx take it: it becomes Basic credentials (RFC 7617), never sent in
    the request target. Cheap when there is no ``@``."""
    if "@" not in url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    credentials = (unquote(parts.username), unquote(parts.password or ""))
    return parts._replace(netloc=netloc).geturl(), credentials


def basic_credentials(user: str, password: str) -> bytes:
    """The Authorization value for Basic (RFC 7617 §2): base64 of user ":" password."""
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


@functools.lru_cache(maxsize=512)
def _parse_url(url: str) -> URL:
    # A client sends to the same few URLs again and again; splitting one costs about a
    # tenth of a keep-alive request (urlsplit, IDNA), so the (immutable) result is cached.
    return URL._parse(url)


_METHODS = {m.decode(): m for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH")}

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials go to the origin they were meant for only (RFC 9110 §15.4, security notes).
_SENSITIVE = frozenset({b"authorization", b"cookie", b"proxy-authorization", b"host"})
_CONTENT_FIELDS = frozenset(
    {b"content-length", b"content-type", b"content-encoding", b"transfer-encoding"}
)


def redirect(
    method: bytes, url: URL, status: int, location: bytes | None, own: Headers
) -> tuple[bytes, URL, Headers, bool] | None:
    """How to follow a redirect response: (method, URL, the caller's header fields to send,
    whether the body is dropped); None if the response is no redirect to follow."""
    if status not in REDIRECT_STATUSES or location is None:
        return None
    target = url.join(location.decode("latin-1"))
    # RFC 9110 §15.4.4: after 303, GET (HEAD stays HEAD). §15.4.2, §15.4.3: user agents
    # turn a POST redirected by 301/302 into a GET too; 307 and 308 keep method and body.
    drop_body = (status == 303 and method != b"HEAD") or (
        status in (301, 302) and method == b"POST"
    )
    if drop_body:
        method = b"GET"
        own = [(n, v) for n, v in own if n.lower() not in _CONTENT_FIELDS]
    if target.origin != url.origin:
        own = [(n, v) for n, v in own if n.lower() not in _SENSITIVE]
    return method, target, own, drop_body


def encode_headers(given: HeaderInput) -> Headers:
    """Header fields as bytes (ISO-8859-1 maps each code point below 256 to its byte)."""
    if not given:
        return []
    pairs = list(given.items()) if isinstance(given, dict) else list(given or [])
    try:
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
    except (UnicodeError, AttributeError):
        raise LocalProtocolError("header names and values must be latin-1 str") from None


def encode_method(method: str) -> bytes:
    """The method as bytes, upper-cased; the engine checks that it is a token."""
    known = _METHODS.get(method)
    if known is not None:
        return known
    try:
        return method.upper().encode("ascii")
    except UnicodeError:
        raise LocalProtocolError(f"the method is not a token: {method!r}") from None


def build_headers(url: URL, own: Headers, defaults: Headers) -> Headers:
    """Host first, then the client's defaults not overridden, then the caller's fields."""
    if not own:
        return [(b"Host", url.authority), *defaults]
    names = {n.lower() for n, _ in own}
    headers: Headers = [] if b"host" in names else [(b"Host", url.authority)]
    return headers + merge_headers(defaults, own)


def merge_headers(defaults: Headers, own: Headers) -> Headers:
    """``defaults`` whose names ``own`` does not repeat (any case), then ``own``."""
    names = {n.lower() for n, _ in own}
    return [(n, v) for n, v in defaults if n.lower() not in names] + own


def prepare_body(body: Body) -> tuple[bytes | None, object, int | None]:
    """(the whole body if it is in memory, the stream to read otherwise, its length if
    known). A body in memory can be sent again on a retry; a stream cannot."""
    if body is None:
        return b"", None, 0
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), None, len(body)
    if hasattr(body, "read"):
        return None, body, _file_size(body)
    return None, body, None


def _file_size(file: object) -> int | None:
    try:
        fileno = file.fileno()  # type: ignore[attr-defined]
        tell = file.tell()  # type: ignore[attr-defined]
        size = os.fstat(fileno).st_size
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, int(size) - int(tell))


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """The field ``name`` (lower case), its repeated values joined with ", " (RFC 9110 §5.3)."""
    found = None
    for key, value in headers:  # (a loop, not a list: most lookups find none)
        if key == name:
            found = value if found is None else found + b", " + value
    return found


def content_charset(headers: Headers) -> str | None:
    """The ``charset`` parameter of the Content-Type field (RFC 9110 §8.3.2), if any."""
    value = header_value(headers, b"content-type")
    if value is None or b"charset" not in value.lower():
        return None
    for param in value.split(b";")[1:]:
        key, _, charset = param.partition(b"=")
        if key.strip().lower() == b"charset":
            return charset.strip().strip(b'"').decode("latin-1") or None
    return None


class ResponseHeaders(list[tuple[bytes, bytes]]):
    """A response's header fields as received: a list of (name, value) bytes pairs, names
    lower-cased, in order; also a case-insensitive multi-dict of str as httpx's
    ``Headers``: ``headers["content-type"]``, ``.get(name)``, ``"name" in headers``,
    ``.get_list(name)``, ``.keys()``, ``.multi_items()``. A repeated field reads as its
    values joined with ", " (RFC 9110 §5.3), except with ``get_list``."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        value = header_value(self, name.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def get_list(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [value.decode("latin-1") for field, value in self if field == key]

    def keys(self) -> list[str]:
        """The field names, each once, in order."""
        return list(dict.fromkeys(name.decode("latin-1") for name, _ in self))

    def multi_items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self]

    @overload
    def __getitem__(self, key: str) -> str: ...
    @overload
    def __getitem__(self, key: SupportsIndex) -> tuple[bytes, bytes]: ...
    @overload
    def __getitem__(self, key: slice) -> list[tuple[bytes, bytes]]: ...
    def __getitem__(
        self, key: str | SupportsIndex | slice
    ) -> str | tuple[bytes, bytes] | list[tuple[bytes, bytes]]:
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return header_value(self, key.lower().encode("latin-1")) is not None
        return super().__contains__(key)


def keep_alive_timeout(headers: Headers) -> float | None:
    """The ``timeout`` parameter of a ``Keep-Alive`` field (RFC 2068 §19.7.1.1), if any."""
    value = header_value(headers, b"keep-alive")
    if value is None:
        return None
    for param in value.split(b","):
        key, _, number = param.strip().partition(b"=")
        if key.strip().lower() == b"timeout" and number.strip().isdigit():
            return float(number.strip())
    return None
