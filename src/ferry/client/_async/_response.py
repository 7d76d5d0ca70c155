"""A response: its head at once, its body on demand; read as httpx's ``Response`` is."""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from ..._errors import (
    ClientClosed,
    ClientTimeout,
    HTTPStatusError,
    ResponseNotRead,
    ResponseTooLarge,
)
from ...http1 import NEED_DATA, Sentinel
from ...http1 import Response as ResponseHead
from .._decoders import Decoder
from .._limits import Deadline, StepTimeouts, passed, too_large
from .._models import URL, ResponseHeaders, content_charset, header_value
from ._transports import AsyncRequest, AsyncResponseBody

__all__ = ["AsyncBodyText", "AsyncResponse"]


class AsyncBodyText(str):
    """``response.text``: the body as text; a str. Calling it, as the older API did
    (``await response.text()``, or with an ``encoding`` to decode with), returns the same
    text as a plain str."""

    _response: AsyncResponse  # (a str subclass cannot have __slots__)

    async def __call__(self, encoding: str | None = None) -> str:
        if encoding is None:
            return str(self)
        content = await self._response.read()  # read already: returns ``content``
        return content.decode(encoding, errors="replace")


class AsyncResponse:
    """A response whose body is read on demand: ``read()`` it whole or iterate over
    ``iter_bytes()``. The connection goes back to the pool when the body has been read to
    its end, and is closed by ``aclose()`` if it was not. A read raises TotalTimeout once
    the request's total deadline has passed, and ResponseTooLarge once the body passed
    ``max_size`` (the client's ``max_response_size``); either closes the connection.

    The names httpx users know: ``status_code`` (``status``), ``reason_phrase``
    (``reason``), ``headers`` (see ``ResponseHeaders``), ``content``, ``text``,
    ``encoding``, ``json()``, ``is_success``, ``raise_for_status()``, ``elapsed``,
    ``history``, ``url``, ``request``."""

    content: bytes | None = None
    """The whole (decoded) body once ``read()`` returned it."""
    kept_alive = False
    """Whether the connection could carry another request after this response."""
    # Until set for this response (class defaults: fewer stores on every response).
    _size = 0  # decoded body bytes so far
    _elapsed: float | None = None
    _encoding: str | None = None
    _text: AsyncBodyText | None = None
    _unfinished: AsyncResponseBody | None = None  # read to its end, not released

    def __init__(
        self,
        url: URL,
        head: ResponseHead,
        body: AsyncResponseBody,
        timeouts: StepTimeouts,
        decoder: Decoder,
        request: AsyncRequest | None = None,
        started: float = 0.0,
        max_size: int | None = None,
    ) -> None:
        self.url = url
        """The URL this response came from; ``str()`` of it is the URL."""
        self.status = head.status
        self.reason = head.reason.decode("latin-1")
        self.http_version = head.http_version
        self.headers = ResponseHeaders(head.headers)
        """Header fields as received: names lower-cased, values as bytes; with the
        case-insensitive lookups of ``ResponseHeaders`` too."""
        self.request = request
        """The request as it was sent (the last hop's, after redirects)."""
        self.history: list[AsyncResponse] = []
        """The redirect responses that led here, the first first (their bodies read)."""
        self._body: AsyncResponseBody | None = body
        self._timeouts = timeouts
        self._deadline = timeouts if type(timeouts) is Deadline else None
        self._decoder = decoder
        self._max_size = max_size
        self._started = started or time.perf_counter()

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def reason_phrase(self) -> str:
        return self.reason

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    @property
    def ok(self) -> bool:
        """No 4xx or 5xx status (as requests' ``ok``)."""
        return self.status < 400

    @property
    def is_redirect(self) -> bool:
        """A redirect status with a Location to follow."""
        return self.status in (301, 302, 303, 307, 308) and self.header("location") is not None

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    @property
    def elapsed(self) -> timedelta:
        """From sending the request to the end of the body (so far, while it is read)."""
        end = self._elapsed if self._elapsed is not None else time.perf_counter()
        return timedelta(seconds=end - self._started)

    def raise_for_status(self) -> AsyncResponse:
        """Raise HTTPStatusError (carrying this response) for a 4xx or 5xx status; else
        return the response, so that calls can be chained."""
        if self.status < 400:
            return self
        kind = "Client error" if self.status < 500 else "Server error"
        message = f"{kind} '{self.status} {self.reason}' for url '{self.url}'"
        raise HTTPStatusError(message, response=self)

    @property
    def encoding(self) -> str:
        """The body's charset: the Content-Type's ``charset`` when Python knows it, else
        UTF-8 (as httpx's default); can be set before reading ``text``."""
        if self._encoding is None:
            charset = content_charset(self.headers)
            self._encoding = charset if charset is not None and _known(charset) else "utf-8"
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = value
        self._text = None

    @property
    def text(self) -> AsyncBodyText:
        """The body decoded with ``encoding`` (undecodable bytes replaced). Raises
        ResponseNotRead for a streamed response whose body was not read."""
        if self._text is None:
            if self.content is None:
                raise ResponseNotRead("read() the body before its text")
            self._text = AsyncBodyText(self.content.decode(self.encoding, errors="replace"))
            self._text._response = self
        return self._text

    def json(self, **options: Any) -> Any:
        """The body parsed as JSON: as RFC 8259 §8.1 says, in UTF-8 whatever the charset
        (UTF-16 and UTF-32 are recognised too, as ``json.loads`` does). Raises
        ResponseNotRead, and ValueError for a body that is not JSON."""
        if self.content is None:
            raise ResponseNotRead("read() the body before parsing it")
        return json.loads(self.content, **options)

    def header(self, name: str) -> str | None:
        """The field ``name`` (any case), repeated values joined with ", "; or None."""
        value = header_value(self.headers, name.lower().encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body, decoded, piece by piece. Raises RemoteProtocolError, NetworkError,
        ReadTimeout, DecodingError (the connection is then closed)."""
        if self._body is None:
            raise ClientClosed("the response body was already read or closed")
        try:
            while self._body is not None:
                if piece := await self._next_piece():
                    yield piece
        except BaseException:  # GeneratorExit too: a caller that stopped early
            await self.aclose()
            raise

    async def read(self) -> bytes:
        """The whole body, decoded (also kept as ``content``). Raises as ``iter_bytes``."""
        if self.content is None:
            if self._body is None:
                raise ClientClosed("the response body was already read or closed")
            # Not through iter_bytes: an async generator costs more than the small body
            # of a typical response takes to read. What has arrived already is taken
            # without a coroutine (most bodies come with their head).
            pieces = []
            while self._body is not None:
                try:
                    piece = self._ready_piece()
                except BaseException:
                    await self.aclose()
                    raise
                pieces.append(await self._next_piece() if piece is None else piece)
            if self._unfinished is not None:
                body, self._unfinished = self._unfinished, None
                self.kept_alive = await body.finish()
            self.content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return self.content

    def _ready_piece(self) -> bytes | None:
        """``_next_piece`` for a piece that arrived already: the piece (decoded), or None
        if it must be waited for. At the end the connection goes back to the pool if it
        can without waiting; else ``_unfinished`` holds the body for ``read`` to
        finish."""
        body = self._body
        assert body is not None
        if self._deadline is not None:
            self._deadline.check()
        data = body.receive_ready()
        if data is NEED_DATA:
            return None
        assert not isinstance(data, Sentinel), data
        piece = self._decoded(data)
        if data is None:  # the end
            self._body = None
            self._elapsed = time.perf_counter()
            kept_alive = body.finish_ready()
            if kept_alive is None:
                self._unfinished = body
            else:
                self.kept_alive = kept_alive
        return piece

    def _decoded(self, data: bytes | None) -> bytes:
        """A piece of the body as received (None: its end) decoded, and counted against
        ``max_size``."""
        piece = self._decoder.decode(data) if data is not None else self._decoder.flush()
        if self._max_size is not None:
            self._count(piece, self._max_size)
        return piece

    async def _next_piece(self) -> bytes:
        """The next piece of the body, decoded (maybe empty). After the last one the
        connection is released and ``_body`` is None; after an error it is closed."""
        body = self._body
        assert body is not None
        timeouts = self._timeouts
        try:
            if self._deadline is not None:
                self._deadline.check()  # also when the engine has the piece already
            data = await body.receive(timeouts)
            piece = self._decoded(data)
        except ClientTimeout as exc:
            await self.aclose()
            if passed(timeouts, exc):
                raise timeouts.error() from exc
            raise
        except BaseException:
            await self.aclose()
            raise
        if data is None:  # the end: release the connection
            self._body = None
            self._elapsed = time.perf_counter()
            self.kept_alive = await body.finish()
        return piece

    def _count(self, piece: bytes, limit: int) -> None:
        """Count ``piece`` in; raise ResponseTooLarge once the body passed ``limit``: so
        ``read()`` holds at most one piece more than the limit."""
        self._size += len(piece)
        if self._size > limit:
            raise too_large(limit, self._size, declared=False)

    async def drain(self, limit: int) -> None:
        """Read the body if it is at most ``limit`` bytes (then the connection can be
        reused); close it otherwise. For a redirect: RFC 9112 §9.3 lets a connection
        carry the next request only once this response was read to its end.
        ``max_size`` is not applied: it is for the body the caller reads."""
        self._max_size = None
        received = 0
        pieces = []
        try:
            while self._body is not None and received <= limit:
                piece = await self._next_piece()
                received += len(piece)
                pieces.append(piece)
            if self._body is None:
                self.content = b"".join(pieces)
        except ResponseTooLarge:
            pass  # a compressed body, its decoder bounded by max_size: closed, as too large
        finally:
            await self.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether the body was read to its end (its connection released) or closed."""
        return self._body is None

    async def aclose(self) -> None:
        """Stop reading: a connection with unread body bytes is closed, not reused."""
        body, self._body = self._body, None
        if body is not None:
            if self._elapsed is None:
                self._elapsed = time.perf_counter()
            await body.aclose()

    def __repr__(self) -> str:
        return f"<Response [{self.status} {self.reason}]>"


def _known(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True
