"""The metrics listener's HTTP, sans-IO: the bytes of a scrape in, the response out.

It speaks through the engine (``ferry.http1``), as the server does, but it is not the
server: one request per connection (``Connection: close``), ``GET``/``HEAD /metrics``
answered with the exposition, any other path 404, any other method 405, a broken
request the engine's status. The I/O around it is the server's (an asyncio protocol)
or, for ``--workers``, the main process's selector loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .._errors import RemoteProtocolError
from ..http1 import Limits, Request, ServerConnection
from ._exposition import CONTENT_TYPE

__all__ = ["ScrapeExchange"]

PATH: Final = b"/metrics"
# A scrape is a short GET: a head larger than this is no scraper's.
_LIMITS: Final = Limits(max_request_line=1024, max_head_size=8192, max_header_count=32)


class ScrapeExchange:
    """One connection to the metrics listener. ``render`` makes the exposition."""

    def __init__(self, render: Callable[[], bytes]) -> None:
        self._render = render
        self._conn = ServerConnection(_LIMITS)
        self.done = False

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes received (``b""``: the peer closed); the response to write once
        the request is whole (then ``done`` is True and the connection is to be
        closed), else ``b""``."""
        if self.done:
            return b""
        conn = self._conn
        if data:
            conn.receive_data(data)
        else:
            conn.receive_eof()
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            return self._answer(exc.status, b"text/plain; charset=utf-8", f"{exc}\n".encode())
        if type(event) is Request:
            return self._respond(event)
        if not data:  # closed before a whole request: nothing to answer
            self.done = True
        return b""

    def _respond(self, request: Request) -> bytes:
        if request.method not in (b"GET", b"HEAD"):
            return self._answer(405, b"text/plain; charset=utf-8", b"GET or HEAD only\n", True)
        if request.path != PATH:
            return self._answer(404, b"text/plain; charset=utf-8", b"metrics are at /metrics\n")
        return self._answer(200, CONTENT_TYPE, self._render())

    def _answer(self, status: int, content_type: bytes, body: bytes, allow: bool = False) -> bytes:
        self.done = True
        conn = self._conn
        conn.close_after_response()
        headers = [(b"content-type", content_type), (b"cache-control", b"no-store")]
        if allow:
            headers.append((b"allow", b"GET, HEAD"))
        return conn.send_response(status, headers, body=body, end=True)
