"""What every connection of one server shares: configuration, the app, the connection
set, and the two things done per request outside the protocol: running the app and
writing the access log."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from asyncio import current_task
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .._errors import LocalProtocolError
from ..asgi._types import ASGIApp, Scope
from ._config import Config

if TYPE_CHECKING:
    from ..asgi._cycle import RequestCycle
    from ..http1 import Fields
    from ._protocol import HTTPProtocol

__all__ = ["ServerState"]

error_log = logging.getLogger("ferry.error")
access_log = logging.getLogger("ferry.access")

TaskFactory = Callable[[Coroutine[Any, Any, None]], "asyncio.Future[None]"]
# scope -> (status, header fields, body), or None to call the app as usual.
RespondNow = Callable[[Scope], "tuple[int, Fields, bytes] | None"]


class ServerState:
    """Shared by the connections of one server."""

    def __init__(self, config: Config, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        self.limits = config.limits
        self.response_settings = config.response_settings
        self.connections: set[HTTPProtocol] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.lifespan_state: dict[str, Any] = {}
        self.shutting_down = False
        self.server_addresses: dict[Any, Any] = {}  # socket name -> the scope's "server"
        # id(Request) -> (Request, the keys of its scope that depend on it alone)
        self.scope_templates: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.nesting = 0  # response_complete -> next request calls nested right now
        self.drained = asyncio.Event()  # set once shutting down and nothing is left
        self.access_log = config.access_log
        self._create_task = _task_factory(loop)
        # An app of Ferry's own may answer some requests at once, with no task (see
        # StaticFiles.ferry_respond_now); any other app is always called.
        self.respond_now: RespondNow | None = getattr(app, "ferry_respond_now", None)

    def run_app(self, cycle: RequestCycle) -> None:
        """Run the application for one request (eagerly where Python allows it)."""
        self._create_task(self._call_app(cycle))

    def check_drained(self) -> None:
        """During shutdown, set ``drained`` once no connection or app task is left."""
        if self.shutting_down and not self.connections and not self.tasks:
            self.drained.set()

    async def _call_app(self, cycle: RequestCycle) -> None:
        # The task registers itself while it runs (no done-callback, which would cost
        # one more event-loop callback per request); shutdown waits for, or cancels, it.
        task = current_task(self.loop)
        tasks = self.tasks
        if task is not None:  # None only when driven outside a task (tests)
            tasks.add(task)
        app: Callable[..., Awaitable[object]] = self.app
        try:
            result = await app(cycle.scope, cycle.receive, cycle.send)
        except Exception as exc:
            if isinstance(exc, LocalProtocolError):
                error_log.error("invalid ASGI message from the application: %s", exc)
            elif not (cycle.disconnected and isinstance(exc, OSError)):
                error_log.error("exception in ASGI application", exc_info=exc)
            self._fail(cycle, "exception in ASGI application")
        else:
            if result is None and cycle.complete:
                return  # the common case (the finally clause still runs)
            if result is not None:
                error_log.error("the ASGI application returned a value instead of None")
            if not cycle.started:
                error_log.error("the ASGI application returned without starting a response")
                self._fail(cycle, "no response from the application")
            elif not cycle.complete:
                error_log.error("the ASGI application returned without completing its response")
                self._fail(cycle, "incomplete response")
        finally:
            if task is not None:
                tasks.discard(task)
                if self.shutting_down:
                    self.check_drained()

    @staticmethod
    def _fail(cycle: RequestCycle, message: str) -> None:
        """500 if nothing was sent yet; else abort (ASGI: the response cannot be fixed)."""
        cycle._channel.app_failed(cycle, message)  # type: ignore[attr-defined]

    def log_access(self, protocol: HTTPProtocol, cycle: RequestCycle) -> None:
        """Combined log format, plus the request's duration in milliseconds."""
        self.log_exchange(protocol, cycle.status, cycle.body_bytes_sent, cycle.start_time)

    def log_websocket(
        self, protocol: HTTPProtocol, status: int, body_bytes: int, start_time: float
    ) -> None:
        """The access-log line of a WebSocket handshake, in ``log_access``'s format:
        ``status`` is 101 when the app accepted, else the denial's (or the error's);
        ``body_bytes`` that response's body; the duration runs from ``start_time`` (the
        request's head parsed) to the answer, not to the session's end, so that the line
        is written when the WebSocket opens rather than hours later."""
        self.log_exchange(protocol, status, body_bytes, start_time)

    def log_exchange(
        self, protocol: HTTPProtocol, status: int, body_bytes: int, start_time: float
    ) -> None:
        """One access-log line: the request as received, the status and body size sent,
        the referer, the user agent and the milliseconds since ``start_time``."""
        if not self.access_log or not access_log.isEnabledFor(logging.INFO):
            return
        # The request as the client sent it, not the scope: its path carries root_path,
        # and the application may have rewritten it.
        request = protocol.conn.request
        if request is None:  # pragma: no cover - a cycle keeps its request until logged
            return
        headers = dict(request.headers)
        client = protocol.client
        access_log.info(
            '%s - - [%s] "%s %s HTTP/%s" %d %d "%s" "%s" %.3fms',
            client[0] if client else "-",
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            request.method.decode("latin-1"),
            request.target.decode("latin-1"),
            request.http_version,
            status,
            body_bytes,
            headers.get(b"referer", b"-").decode("latin-1"),
            headers.get(b"user-agent", b"-").decode("latin-1"),
            (time.perf_counter() - start_time) * 1000,
        )


def _task_factory(loop: asyncio.AbstractEventLoop) -> TaskFactory:
    if sys.version_info >= (3, 12):
        # An eager task runs the app at once, and costs no loop iteration when the app
        # finishes without waiting (most handlers of small requests do).
        def eager(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
            return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]

        return eager
    return loop.create_task
