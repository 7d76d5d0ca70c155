"""``WSGIAdapter``: runs a WSGI application in a bounded thread pool, as an ASGI 3 app.

Call order for one request: the adapter's coroutine (on the event loop) queues the
request for a pool thread and waits for what the thread hands back; the thread builds
the environ, calls the application, iterates its response and always calls its
``close()``. Two threads, one exchange between them:

* the thread **asks** the loop (``_ask``) to send body pieces or to receive the next
  piece of the request body, and waits for the answer: the server's flow control (``send``
  waits while the client is slow) therefore holds the application's iteration too, so a
  large response is never buffered whole;
* the thread **ends** with one last item and does not wait: the response's last
  messages (for a list, its whole head and body: one hand-over and one write for a
  small response), or the exception the application raised.

Items reach the loop through ``call_soon_threadsafe``; answers reach the thread through
a ``queue.SimpleQueue``. Per small request that is one hand-over each way, no Future
chain and no Task.
"""

from __future__ import annotations

import asyncio
import os
import queue
import stat
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from .._errors import ClientDisconnected
from ..asgi._types import Message, Receive, Scope, Send
from ._environ import build_environ
from ._input import WSGIInput
from ._response import FileWrapper, ResponseStart, StartResponseError
from ._workers import Workers

__all__ = ["WSGIAdapter", "running_scope"]

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]

# What a request's thread hands the loop: (kind, payload).
_SEND = 0  # payload: messages to send; the thread waits for the answer
_RECEIVE = 1  # payload: None; the answer is the next request-body message
_FINISH = 2  # payload: the last messages to send; the thread has finished
_RAISE = 3  # payload: the application's exception; the thread has finished
Item = tuple[int, Any]


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
        self._workers: Workers | None = None

    def _pool(self) -> Workers:
        if self._workers is None:
            self._workers = Workers(self.threads)
        return self._workers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            exchange = _Exchange(self.app, scope, receive, send, asyncio.get_running_loop())
            await exchange.serve(self._pool())
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
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.stop()


class _Exchange:
    """One request: ``serve`` runs on the loop, ``run`` in a pool thread."""

    __slots__ = (
        "_abandoned",
        "_asking",
        "_item",
        "_replies",
        "_waiter",
        "app",
        "input",
        "loop",
        "receive",
        "scope",
        "send",
        "start",
    )

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
        self.receive = receive
        self.send = send
        self.loop = loop
        self.input = WSGIInput(self._next_body)
        self.start = ResponseStart(self.write)
        # The item handed over and not taken yet. One is enough: the thread waits for
        # the answer to each question, and its last item is its last.
        self._item: Item | None = None
        self._waiter: asyncio.Future[None] | None = None  # serve() waiting for an item
        self._replies: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._asking = False  # the thread waits for an answer to the item serve() holds
        self._abandoned = False  # serve() has left: questions get ClientDisconnected

    # -- the loop's side ----------------------------------------------------------------

    async def serve(self, workers: Workers) -> None:
        """Run the request in a pool thread; send, receive and raise for it."""
        workers.submit(self.run)
        try:
            while True:
                kind, payload = await self._next_item()
                if kind == _FINISH:
                    for message in payload:
                        await self.send(message)
                    return
                if kind == _RAISE:
                    raise payload
                self._asking = True
                try:
                    answer = await self._answer(kind, payload)
                except Exception as exc:  # ClientDisconnected, mostly: raised in the thread
                    self._reply(False, exc)
                else:
                    self._reply(True, answer)
        finally:
            self._abandon()

    async def _next_item(self) -> Item:
        while (item := self._item) is None:
            waiter = self._waiter = self.loop.create_future()
            await waiter
        self._item = None
        return item

    async def _answer(self, kind: int, payload: Any) -> Any:
        if kind == _RECEIVE:
            return await self.receive()
        for message in payload:
            await self.send(message)
        return None

    def _reply(self, ok: bool, value: Any) -> None:
        self._asking = False
        self._replies.put((ok, value))

    def _arrive(self, item: Item) -> None:
        """An item from the thread (run on the loop by call_soon_threadsafe)."""
        if self._abandoned:
            if item[0] == _SEND or item[0] == _RECEIVE:
                self._replies.put((False, ClientDisconnected("the request was abandoned")))
            return
        self._item = item
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _abandon(self) -> None:
        """serve() is leaving (finished, failed or cancelled): never leave the thread
        waiting for an answer that will not come."""
        self._abandoned = True
        if self._asking:
            self._reply(False, ClientDisconnected("the request was abandoned"))
        item, self._item = self._item, None
        if item is not None:
            self._arrive(item)

    # -- the thread's side --------------------------------------------------------------

    def _post(self, item: Item) -> None:
        self.loop.call_soon_threadsafe(self._arrive, item)

    def _ask(self, kind: int, payload: Any) -> Any:
        """Hand ``(kind, payload)`` to the loop and wait for its answer (re-raising its
        error)."""
        self._post((kind, payload))
        ok, value = self._replies.get()
        if not ok:
            raise value
        return value

    def _next_body(self) -> Message:
        """The next request-body message (for wsgi.input)."""
        message: Message = self._ask(_RECEIVE, None)
        return message

    def run(self) -> None:
        """The pool thread's job: the whole request, ending with one item for the loop."""
        try:
            last = self._respond()
        except BaseException as exc:  # re-raised by serve(), in the server's app task
            self._post((_RAISE, exc))
        else:
            self._post((_FINISH, last))

    def _respond(self) -> list[Message]:
        """Call the app and send its response but the last messages, which it returns."""
        environ = build_environ(self.scope, self.input)
        environ["wsgi.file_wrapper"] = FileWrapper
        result = self.app(environ, self.start)
        try:
            if isinstance(result, FileWrapper) and self._can_zerocopy(result):
                self._ask(_SEND, [*self._head(), self._file_message(result)])
                return []  # sent and waited for: close() below closes the file
            if isinstance(result, list | tuple):
                return self._sequence(result)
            for chunk in result:
                self.write(chunk)
            return self._body(b"", more_body=False)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

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

    def _body(self, data: bytes, *, more_body: bool) -> list[Message]:
        """The messages that send ``data`` (the head first, if it has not gone yet)."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"a WSGI response body must be bytes, got {type(data).__name__}")
        if not data and more_body:
            return []  # PEP 3333: an empty string sends nothing (and not the headers yet)
        body: Message = {"type": "http.response.body", "body": bytes(data), "more_body": more_body}
        return [*self._head(), body]

    def write(self, data: bytes) -> None:
        """Send a piece of the body (the PEP 3333 ``write`` callable, and each item of
        an iterated response); waits until the server has taken it."""
        messages = self._body(data, more_body=True)
        if messages:
            self._ask(_SEND, messages)

    def _sequence(self, chunks: list[bytes] | tuple[bytes, ...]) -> list[Message]:
        """A list is known whole: its last item ends the response, so a one-item list
        goes out with Content-Length in one write, handed over without waiting."""
        for chunk in chunks[:-1]:
            self.write(chunk)
        return self._body(chunks[-1] if chunks else b"", more_body=False)

    def _can_zerocopy(self, wrapper: FileWrapper) -> bool:
        if "http.response.zerocopysend" not in self.scope.get("extensions", {}):
            return False
        fd = wrapper.fileno()
        return fd is not None and stat.S_ISREG(os.fstat(fd).st_mode)

    @staticmethod
    def _file_message(wrapper: FileWrapper) -> Message:
        """The rest of the file, from its position, through the zero-copy extension."""
        return {"type": "http.response.zerocopysend", "file": wrapper.filelike, "more_body": False}


def running_scope(frame: FrameType) -> Scope | None:
    """The scope of the request whose pool-thread job ``frame`` is (the frame of an
    ``_Exchange.run``), else None: how ``--slow-request-log`` finds a request's thread."""
    if frame.f_code is not _RUN_CODE:
        return None
    exchange = frame.f_locals.get("self")
    return exchange.scope if isinstance(exchange, _Exchange) else None


_RUN_CODE = _Exchange.run.__code__
