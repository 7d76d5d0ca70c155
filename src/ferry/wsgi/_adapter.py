"""``WSGIAdapter``: runs a WSGI application in a bounded thread pool, as an ASGI 3 app.

Call order for one request: the adapter builds the environ, then one pool thread calls
the application, iterates its response and always calls its ``close()``. Every send
from that thread is a coroutine run on the event loop, and the thread waits for it to
finish: the server's flow control (``send`` waits while the client is slow) therefore
holds the application's iteration too, so a large response is never buffered whole.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..asgi._types import Message, Receive, Scope, Send
from ._environ import build_environ
from ._input import WSGIInput
from ._response import FileWrapper, ResponseStart, StartResponseError

__all__ = ["WSGIAdapter"]

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class WSGIAdapter:
    """An ASGI 3 application that serves ``app`` (PEP 3333) with at most ``threads``
    requests running at once; more wait for a free thread.

    Lifespan: startup is answered at once; shutdown stops the pool once the requests in
    it have finished. Other scope types (websocket) raise TypeError.
    """

    def __init__(self, app: WSGIApp, threads: int = 10) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.app = app
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="ferry-wsgi")
        return self._executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            loop = asyncio.get_running_loop()
            exchange = _Exchange(self.app, scope, receive, send, loop)
            await loop.run_in_executor(self._pool(), exchange.run)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise TypeError(f"a WSGI application cannot serve a {kind!r} connection")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def shutdown(self) -> None:
        """Stop the thread pool (threads still running an app finish on their own)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


class _Exchange:
    """One request, run in a pool thread: call the app, send its response."""

    def __init__(
        self,
        app: WSGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.app = app
        self.scope = scope
        self.send = send
        self.loop = loop
        self.input = WSGIInput(receive, loop)
        self.start = ResponseStart(self.write)

    def _on_loop(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` on the event loop and wait for it (re-raising its error)."""
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _send_all(self, messages: list[Message]) -> None:
        for message in messages:
            await self.send(message)

    def _head(self) -> list[Message]:
        """The http.response.start message, if it has not been sent yet."""
        if self.start.headers_sent:
            return []
        if self.start.status is None:
            raise StartResponseError("the application sent a body before start_response")
        self.start.headers_sent = True
        return [
            {
                "type": "http.response.start",
                "status": self.start.status,
                "headers": self.start.headers,
            }
        ]

    def write(self, data: bytes, *, more_body: bool = True) -> None:
        """Send a piece of the body (the PEP 3333 ``write`` callable, and each item of
        the response iterable); waits until the server has taken it."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"a WSGI response body must be bytes, got {type(data).__name__}")
        if not data and more_body:
            return  # PEP 3333: an empty string sends nothing (and not the headers yet)
        body: Message = {"type": "http.response.body", "body": bytes(data), "more_body": more_body}
        self._on_loop(self._send_all([*self._head(), body]))

    def run(self) -> None:
        environ = build_environ(self.scope, self.input)
        environ["wsgi.file_wrapper"] = FileWrapper
        result = self.app(environ, self.start)
        try:
            if isinstance(result, FileWrapper) and self._can_zerocopy(result):
                self._send_file(result)
            elif isinstance(result, list | tuple):
                self._send_sequence(result)
            else:
                for chunk in result:
                    self.write(chunk)
                self.write(b"", more_body=False)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _send_sequence(self, chunks: list[bytes] | tuple[bytes, ...]) -> None:
        """A list is known whole: its last item ends the response, so a one-item list
        goes out with Content-Length in one write."""
        last = len(chunks) - 1
        for index, chunk in enumerate(chunks):
            if index < last:
                self.write(chunk)
        self.write(chunks[last] if chunks else b"", more_body=False)

    def _can_zerocopy(self, wrapper: FileWrapper) -> bool:
        if "http.response.zerocopysend" not in self.scope.get("extensions", {}):
            return False
        fd = wrapper.fileno()
        return fd is not None and stat.S_ISREG(os.fstat(fd).st_mode)

    def _send_file(self, wrapper: FileWrapper) -> None:
        """The rest of the file, from its position, through the zero-copy extension."""
        message: Message = {
            "type": "http.response.zerocopysend",
            "file": wrapper.filelike,
            "more_body": False,
        }
        self._on_loop(self._send_all([*self._head(), message]))
