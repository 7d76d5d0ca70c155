"""The session's cookies (RFC 6265), kept in the standard library's ``CookieJar``: each
response's ``Set-Cookie`` fields go in, each request takes the cookies its URL may carry.

``http.cookiejar`` speaks to ``urllib.request`` objects; the two small adapters here give
it a request's URL and a response's header fields."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from http.cookiejar import Cookie, CookieJar

from ..http1 import Headers
from ._models import URL

__all__ = ["CookieInput", "Cookies", "cookie_field", "make_jar", "store_cookies"]

CookieInput = Mapping[str, str] | CookieJar | None
"""``cookies=``: a jar (used as it is: the session's cookies go into it), or name-value
pairs, sent to every host (as httpx does with a dict)."""


class Cookies(CookieJar):
    """A client's cookie jar (``client.cookies``): a ``http.cookiejar.CookieJar`` with
    httpx's lookups by name."""

    def get(self, name: str, default: str | None = None, domain: str | None = None) -> str | None:
        """The value of the cookie ``name`` (of ``domain``, if given); else ``default``."""
        for cookie in self:
            if cookie.name == name and (domain is None or cookie.domain == domain):
                return cookie.value
        return default

    def set(self, name: str, value: str, domain: str = "") -> None:
        """Set a cookie (for every host when ``domain`` is empty)."""
        cookie = any_host_cookie(name, value)
        cookie.domain = domain
        self.set_cookie(cookie)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __bool__(self) -> bool:
        # Asked before every request: CookieJar's own answer (__len__) walks all its
        # cookies through three generators. Its domain table is empty until a cookie is
        # set (and may keep empty entries after clear(): then the walk decides).
        return bool(self._cookies) and len(self) > 0  # type: ignore[attr-defined]


def make_jar(cookies: CookieInput) -> CookieJar:
    """The jar ``cookies`` names: itself, or a new ``Cookies`` holding the pairs."""
    if isinstance(cookies, CookieJar):
        return cookies
    jar = Cookies()
    for name, value in (cookies or {}).items():
        jar.set(name, value)
    return jar


def any_host_cookie(name: str, value: str) -> Cookie:
    """A cookie with no domain, for every host and path."""
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain="",
        domain_specified=False,
        domain_initial_dot=False,
        path="/",
        path_specified=False,
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )


def cookie_field(jar: CookieJar, url: URL) -> bytes | None:
    """The ``Cookie`` value for a request to ``url``: the jar's cookies that match its
    host, path and scheme (RFC 6265 §5.4); None when there are none."""
    request = urllib.request.Request(str(url))
    jar.add_cookie_header(request)
    value = request.get_header("Cookie")
    return None if value is None else value.encode("latin-1")


def store_cookies(jar: CookieJar, url: URL, headers: Headers) -> None:
    """Take the ``Set-Cookie`` fields of a response to ``url`` into the jar (RFC 6265
    §5.3: those the request's host may set)."""
    jar.extract_cookies(_Response(headers), urllib.request.Request(str(url)))  # type: ignore[arg-type]


class _Fields:
    def __init__(self, headers: Headers) -> None:
        self._headers = headers

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        key = name.lower().encode("latin-1")
        values = [value.decode("latin-1") for field, value in self._headers if field == key]
        return values or default


class _Response:
    """What ``CookieJar.extract_cookies`` reads of a response: ``info().get_all()``."""

    def __init__(self, headers: Headers) -> None:
        self._fields = _Fields(headers)

    def info(self) -> _Fields:
        return self._fields
