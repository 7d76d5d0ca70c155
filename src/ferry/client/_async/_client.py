"""The client, over the connection pool (or another transport)."""

from __future__ import annotations

import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from ..._errors import ClientTimeout, LocalProtocolError, TooManyRedirects
from ..._version import __version__
from ...http1 import Headers
from .._cookies import CookieInput, cookie_field, make_jar, store_cookies
from .._decoders import accept_encoding, decoder_for
from .._limits import Deadline, StepTimeouts, declared_length, passed, too_large
from .._models import (
    URL,
    Body,
    HeaderInput,
    PoolLimits,
    Timeouts,
    build_headers,
    encode_headers,
    encode_method,
    header_value,
    merge_headers,
    prepare_body,
    redirect,
    split_userinfo,
)
from .._multipart import FilesInput
from .._proxies import ProxyRoutes
from .._request import (
    USE_CLIENT_DEFAULT,
    AuthInput,
    QueryInput,
    TimeoutInput,
    UseClientDefault,
    basic_auth_field,
    encode_body,
    encode_query,
    join_url,
    timeouts_from,
    with_query,
)
from .._tls import VerifyInput, ssl_context
from ._backend import Trace
from ._connection import WHOLE_BODY
from ._pool import AsyncConnectionPool
from ._response import AsyncResponse
from ._transports import AsyncBaseTransport, AsyncHTTPTransport, AsyncRequest

__all__ = ["AsyncClient", "AsyncResponse"]

_BLOCK = 65536
_REDIRECT_BODY = 65536
"""A redirect's body up to this size is read (to reuse its connection); a larger one is
not worth the wait: its connection is closed."""

_Request = tuple[bytes, URL, Headers, Body]
"""(method, URL, the caller's header fields, body): what a redirect may change."""
EventHooks = Mapping[str, Sequence[Callable[[Any], Any]]]
"""``event_hooks={"request": [...], "response": [...]}``: called (and awaited, for the
async client) with each request before it is sent, and each response once its head
arrived (its body unread), redirects included; an exception a hook raises stops the
request and reaches the caller."""
FormInput = Mapping[str, Any] | bytes | str | None

_DEFAULT_HEADERS: Headers = [
    (b"User-Agent", b"ferry/" + __version__.encode("ascii")),
    (b"Accept", b"*/*"),
    # HTTP/1.1's default, said out loud (as httpx does): a server may then tell its idle
    # timeout in Keep-Alive, which the pool uses to retire a connection before it does.
    (b"Connection", b"keep-alive"),
]
"""Sent unless the client's or the request's fields name them (as curl and httpx send
them); with Accept-Encoding, which names only the codings this installation decodes."""


class AsyncClient:
    """An HTTP/1.1 client with a connection pool; ``async with`` it to close it.

    As httpx's: ``timeout`` (seconds for every step, or ``Timeouts``; ``timeouts`` is the
    older name), ``base_url`` (relative request URLs are appended to its path),
    ``headers``, ``params`` (merged into each URL's query), ``cookies`` (the session's
    jar, ``self.cookies``: a ``Cookies``, or the ``CookieJar`` given), ``auth=(user,
    password)`` (Basic), ``follow_redirects`` (301/302/303/307/308, off by default; each
    request may say otherwise) at most ``max_redirects`` in a row (then
    TooManyRedirects), ``event_hooks`` (see ``EventHooks``).

    ``verify``: verify TLS certificates against the system's trust store (True), not at
    all (False), against the CA certificates in this file or directory (a path, as
    httpx's), or with this SSLContext. ``uds``: send every request over this UNIX
    socket. ``max_decompression_ratio`` bounds a compressed body's growth;
    ``max_response_size``: the largest response body (in bytes, decoded) a request takes
    in, else ResponseTooLarge (None: no limit; each request may say otherwise).
    ``Timeouts(total=...)`` bounds each request as a whole (TotalTimeout).
    ``expect_continue_above``: send ``Expect: 100-continue`` with bodies of at least this
    many bytes (and streams of unknown size), so the server can refuse them before they
    are sent (None: never). ``transport``: what sends the requests (the network by default;
    ``ASGITransport(app)`` calls an ASGI app in-process, ``MockTransport(handler)`` a
    function). ``proxy``: ``http://[user:password@]host:port`` of an HTTP proxy for every
    request (``https://`` ones through a CONNECT tunnel). ``trust_env``: without a
    ``proxy``, take the proxies from ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY`` (see docs/client.md). ``no_proxy``: hosts that bypass the proxy, in
    ``NO_PROXY``'s syntax (replacing the environment's).
    """

    def __init__(
        self,
        *,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        timeouts: Timeouts | None = None,
        limits: PoolLimits | None = None,
        headers: HeaderInput = None,
        params: QueryInput = None,
        cookies: CookieInput = None,
        auth: AuthInput = None,
        base_url: str | None = None,
        event_hooks: EventHooks | None = None,
        verify: VerifyInput = True,
        uds: str | None = None,
        max_decompression_ratio: int = 1000,
        max_response_size: int | None = None,
        follow_redirects: bool = False,
        max_redirects: int = 10,
        expect_continue_above: int | None = None,
        transport: AsyncBaseTransport | None = None,
        proxy: str | None = None,
        no_proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self.timeouts = _timeouts(timeout, timeouts, Timeouts())
        # The environment's proxies are for the network: not for a UNIX socket, nor for a
        # transport of the caller's (an ASGI app, a mock).
        from_env = trust_env and uds is None and transport is None
        proxies = ProxyRoutes.build(proxy, no_proxy, trust_env=from_env)
        self.pool = AsyncConnectionPool(
            limits or PoolLimits(), ssl_context(verify), uds, proxies=proxies
        )
        self.transport = transport or AsyncHTTPTransport(self.pool)
        # The client's own fields replace the defaults of the same name.
        defaults = [*_DEFAULT_HEADERS, (b"Accept-Encoding", accept_encoding())]
        self._headers = merge_headers(defaults, encode_headers(headers))
        self.params = params
        self.auth = auth
        self.base_url = base_url
        self.cookies = make_jar(cookies)
        hooks = event_hooks or {}
        self._request_hooks = list(hooks.get("request", ()))
        self._response_hooks = list(hooks.get("response", ()))
        self._max_ratio = max_decompression_ratio
        self.max_response_size = max_response_size
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.expect_continue_above = expect_continue_above

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool's connections. Requests after this raise ClientClosed."""
        await self.transport.aclose()
        await self.pool.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: QueryInput = None,
        content: Body = None,
        data: FormInput = None,
        files: FilesInput | None = None,
        json: Any = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
        body: Body = None,
        timeouts: Timeouts | None = None,
    ) -> AsyncResponse:
        """Send a request and read the whole response (``content`` holds the body).

        ``params`` join the URL's query; the body is one of ``content`` (``body`` is
        its older name), ``data`` (a form), ``files`` (multipart/form-data, with
        ``data``'s fields), ``json``; ``cookies`` are sent with the jar's; ``auth``,
        ``timeout`` and ``max_response_size`` replace the client's (and ``auth`` a
        ``user:password@`` in the URL). Raises as ``stream``, and DecodingError."""
        request = self._build(
            method, url, params, content, data, files, json, headers, cookies, auth, body
        )
        # What stream() does, without a context manager: this is every request's path
        # (with the client's defaults taken without a call).
        if timeout is USE_CLIENT_DEFAULT and timeouts is None:
            steps = self.timeouts
        else:
            steps = _timeouts(timeout, timeouts, self.timeouts)
        max_size = self._size_limit(max_response_size)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        if follow or max_size is not None or steps.total is not None:
            response = await self._open(request, steps, follow, max_size)
        else:  # what _open does then, without its coroutine
            response = await self._send(*request, steps, None, None)
        try:
            await response.read()
        finally:
            if not response.is_closed:
                await response.aclose()
        return response

    def get(
        self,
        url: str,
        *,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "GET",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
        )

    def head(
        self,
        url: str,
        *,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "HEAD",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
        )

    def options(
        self,
        url: str,
        *,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "OPTIONS",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
        )

    def delete(
        self,
        url: str,
        *,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "DELETE",
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
        )

    def post(
        self,
        url: str,
        *,
        content: Body = None,
        data: FormInput = None,
        files: FilesInput | None = None,
        json: Any = None,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
        body: Body = None,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "POST",
            url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
            body=body,
        )

    def put(
        self,
        url: str,
        *,
        content: Body = None,
        data: FormInput = None,
        files: FilesInput | None = None,
        json: Any = None,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
        body: Body = None,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "PUT",
            url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
            body=body,
        )

    def patch(
        self,
        url: str,
        *,
        content: Body = None,
        data: FormInput = None,
        files: FilesInput | None = None,
        json: Any = None,
        params: QueryInput = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
        body: Body = None,
    ) -> Coroutine[Any, Any, AsyncResponse]:
        return self.request(
            "PATCH",
            url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            max_response_size=max_response_size,
            body=body,
        )

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        params: QueryInput = None,
        content: Body = None,
        data: FormInput = None,
        files: FilesInput | None = None,
        json: Any = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        auth: AuthInput = None,
        follow_redirects: bool | None = None,
        timeout: TimeoutInput | UseClientDefault = USE_CLIENT_DEFAULT,
        max_response_size: int | UseClientDefault | None = USE_CLIENT_DEFAULT,
        body: Body = None,
        timeouts: Timeouts | None = None,
        trace: Trace | None = None,
    ) -> AsyncIterator[AsyncResponse]:
        """Send a request (its arguments as ``request``'s); yield the response with its
        body unread. On leaving the block an unread body's connection is closed.
        ``trace(step, data)`` is called at each step of the exchange (see
        docs/client.md). Raises LocalProtocolError, RemoteProtocolError, NetworkError
        (ConnectError), ClientTimeout (TotalTimeout: also from a read of the body),
        ResponseTooLarge (also from a read of the body), TooManyRedirects, ClientClosed."""
        request = self._build(
            method, url, params, content, data, files, json, headers, cookies, auth, body
        )
        response = await self._open(
            request,
            _timeouts(timeout, timeouts, self.timeouts),
            follow_redirects,
            self._size_limit(max_response_size),
            trace,
        )
        try:
            yield response
        finally:
            await response.aclose()

    def _size_limit(self, given: int | UseClientDefault | None) -> int | None:
        """A request's ``max_response_size``: the one given, or the client's."""
        return self.max_response_size if isinstance(given, UseClientDefault) else given

    def _build(
        self,
        method: str,
        url: str,
        params: QueryInput,
        content: Body,
        data: FormInput,
        files: FilesInput | None,
        json: Any,
        headers: HeaderInput,
        cookies: Mapping[str, str] | None,
        auth: AuthInput,
        body: Body,
    ) -> _Request:
        """The request the arguments describe (each step skipped when not asked for)."""
        own = encode_headers(headers) if headers else []
        if self.base_url is not None:
            url = join_url(self.base_url, url)
        credentials = None
        if "@" in url:
            url, credentials = split_userinfo(url)
        if params or self.params:
            url = with_query(url, _merged_query(self.params, params))
        if content is not None or data is not None or files is not None or json is not None:
            if body is not None:
                raise LocalProtocolError("give content= (or its older name body=), not both")
            fields, body = encode_body(content, data, files, json)
            own = merge_headers(fields, own)  # the caller's Content-Type wins
        # httpx's order: the request's auth, the client's, then the URL's user:password.
        credentials = auth or self.auth or credentials
        if credentials is not None and all(n.lower() != b"authorization" for n, _ in own):
            own.append(basic_auth_field(credentials))
        if cookies:
            pairs = "; ".join(f"{name}={value}" for name, value in cookies.items())
            own = _with_cookie(own, pairs.encode("latin-1"))
        return encode_method(method), URL.parse(url), own, body

    async def _open(
        self,
        request: _Request,
        timeouts: Timeouts,
        follow_redirects: bool | None,
        max_size: int | None,
        trace: Trace | None = None,
    ) -> AsyncResponse:
        """Send the request (and follow redirects if asked to): the final response, its
        body unread. One total deadline covers all the hops, as curl's --max-time;
        ``max_size`` is for the final response's body (a redirect's the client reads
        itself, up to ``_REDIRECT_BODY``)."""
        steps: StepTimeouts = timeouts if timeouts.total is None else Deadline(timeouts)
        response = await self._send(*request, steps, max_size, trace)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[AsyncResponse] = []
        try:
            while follow and (hop := self._redirect(request, response)) is not None:
                if len(history) == self.max_redirects:
                    raise TooManyRedirects(f"more than {self.max_redirects} redirects")
                # Read a small redirect body to its end, so that its connection carries
                # the next hop (closed unread, the connection would be lost).
                await response.drain(_REDIRECT_BODY)
                history.append(response)
                request = hop
                response = await self._send(*request, steps, max_size, trace)
            if max_size is not None:
                # curl's --max-filesize: a body declared too large is not even started.
                declared = declared_length(request[0], response.status, response.headers)
                if declared is not None and declared > max_size:
                    raise too_large(max_size, declared, declared=True)
        except BaseException:
            await response.aclose()
            raise
        if history:
            response.history = history
        return response

    @staticmethod
    def _redirect(request: _Request, response: AsyncResponse) -> _Request | None:
        method, url, own, body = request
        location = header_value(response.headers, b"location")
        hop = redirect(method, url, response.status, location, own)
        if hop is None:
            return None
        method, url, own, drop_body = hop
        if drop_body:
            return method, url, own, None
        if body is not None and not isinstance(body, bytes | str):
            return None  # a stream was sent and cannot be sent again: stop here
        return method, url, own, body

    def _with_body(self, method: bytes, url: URL, headers: Headers, body: Body) -> AsyncRequest:
        """The request with its body, the fields that frame it, and ``Expect`` when the
        body is large enough (``expect_continue_above``)."""
        whole, stream, length = prepare_body(body)
        threshold = self.expect_continue_above
        expect = threshold is not None and (length is None or length >= max(threshold, 1))
        if length is not None and (whole is None or expect or length > WHOLE_BODY):
            headers = [*headers, (b"Content-Length", b"%d" % length)]
        if expect:
            headers = [*headers, (b"Expect", b"100-continue")]
        pieces = None if whole is not None else _pieces(stream)
        return AsyncRequest(method, url, headers, whole, pieces, expect)

    async def _send(
        self,
        method: bytes,
        url: URL,
        own: Headers,
        body: Body,
        timeouts: StepTimeouts,
        max_size: int | None,
        trace: Trace | None,
    ) -> AsyncResponse:
        headers = build_headers(url, own, self._headers)
        jar = self.cookies
        if jar and (cookie := cookie_field(jar, url)) is not None:
            headers = _with_cookie(headers, cookie)
        if body is None:  # (no body: nothing to frame, nothing to expect)
            request = AsyncRequest(method, url, headers, b"")
        else:
            request = self._with_body(method, url, headers, body)
        for hook in self._request_hooks:
            await hook(request)
        started = time.perf_counter()
        try:
            head, source = await self.transport.handle_async_request(request, timeouts, trace)
        except ClientTimeout as exc:
            if passed(timeouts, exc):
                raise timeouts.error() from exc
            raise
        # One look through the fields for the two that concern the client (not
        # header_value, twice: it makes a list each time).
        encoding: bytes | None = None
        cookies = False
        for name, value in head.headers:
            if name == b"content-encoding":  # repeated: joined (RFC 9110 §5.3)
                encoding = value if encoding is None else encoding + b", " + value
            elif name == b"set-cookie":
                cookies = True
        decoder = decoder_for(encoding, self._max_ratio, max_size)
        response = AsyncResponse(url, head, source, timeouts, decoder, request, started, max_size)
        try:
            if cookies:
                store_cookies(jar, url, head.headers)
            for hook in self._response_hooks:
                await hook(response)
        except BaseException:
            await response.aclose()
            raise
        return response


def _timeouts(
    timeout: TimeoutInput | UseClientDefault, timeouts: Timeouts | None, default: Timeouts
) -> Timeouts:
    """``timeouts`` (the older name) if given, else ``timeout``, else ``default``."""
    if timeouts is not None:
        return timeouts
    if isinstance(timeout, UseClientDefault):
        return default
    return timeouts_from(timeout)


def _merged_query(client: QueryInput, request: QueryInput) -> str:
    """The client's params, then the request's (replacing the client's of the same name
    when both are mappings, as httpx merges them)."""
    if isinstance(client, Mapping) and isinstance(request, Mapping):
        return encode_query({**client, **request})
    return "&".join(query for query in (encode_query(client), encode_query(request)) if query)


def _with_cookie(headers: Headers, cookie: bytes) -> Headers:
    """``headers`` with ``cookie`` added to their Cookie field (RFC 6265 §5.4: one field,
    pairs separated by "; "), or in a new one."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"cookie":
            return [*headers[:index], (name, value + b"; " + cookie), *headers[index + 1 :]]
    return [*headers, (b"Cookie", cookie)]


async def _pieces(stream: object) -> AsyncIterator[bytes]:
    """The pieces of a streamed body: a binary file's blocks, or an iterator's items."""
    read = getattr(stream, "read", None)
    if read is not None:
        while block := read(_BLOCK):
            yield block
    elif isinstance(stream, AsyncIterable):
        async for piece in stream:
            yield piece
    else:
        assert isinstance(stream, Iterable), stream  # prepare_body lets nothing else by
        for piece in stream:
            yield piece
