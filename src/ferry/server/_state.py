"""What every connection of one server shares: configuration, the app, the connection
set, the caches of values that connections share (``addresses``, ``scope_templates``),
and the two things done per request outside the protocol: running the app and writing
the access log (whose lines ``_access_log`` makes)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from asyncio import current_task
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from .._errors import LocalProtocolError
from ..asgi._scope import ScopeTemplates, build_websocket_scope
from ..asgi._types import ASGIApp, ImmediateResponse, RespondNow, Scope
from ..proxy import Forwarding, TrustedPeers, forwarded_from
from ._access_log import access_writer
from ._config import Config
from ._linger import LINGER_MIN_LIMIT, LingeringCloses
from ._rates import MinRate

if TYPE_CHECKING:
    from types import ModuleType

    from ..asgi._cycle import RequestCycle
    from ..http1 import Fields, Request
    from ..metrics import Recorder
    from ..websocket import WebSocketChannel, WebSocketSession
    from ._protocol import HTTPProtocol

__all__ = ["ServerState"]

error_log = logging.getLogger("ferry.error")


class ServerState:
    """Shared by the connections of one server."""

    def __init__(self, config: Config, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        self.limits = config.limits
        self.response_settings = config.response_settings
        self.connections: set[HTTPProtocol] = set()
        # Connections past their last response, closing in stages: not in connections.
        self.lingering = LingeringCloses(loop, max(config.max_connections, LINGER_MIN_LIMIT))
        self.tasks: set[asyncio.Task[Any]] = set()
        self.lifespan_state: dict[str, Any] = {}
        self.shutting_down = False
        # The caches (each says what it keeps, by what key, and why that is safe):
        # socket name -> the scope's "server" (see addresses), and the scope templates.
        self.server_addresses: dict[Any, Any] = {}
        self.scope_templates = ScopeTemplates(
            config.root_path, "http" if config.ssl_certfile is None else "https"
        )
        self.nesting = 0  # response_complete -> next request calls nested right now
        # Responses completed by this server, and the count at which recycle() is called
        # (a worker's max_requests; -1: never), which calls on_recycle.
        self.responses = 0
        self.recycle_at = -1
        self.on_recycle: Callable[[], None] | None = None
        self.drained = asyncio.Event()  # set once shutting down and nothing is left
        self.access_log = config.access_log
        # --metrics-port: this process's counts (set by the Server; ferry.metrics).
        self.metrics: Recorder | None = None
        self._write_access = access_writer(config.access_log_format)  # compiled once
        # The accepted WebSockets whose end is to be logged: (request, client, start).
        self._websockets: dict[object, tuple[Request, tuple[str, int] | None, float]] = {}
        # Whose proxy headers are believed (None: --no-proxy-headers); HTTPProtocol asks
        # once per connection (trusts_peer), then per request (proxied).
        # --proxy-protocol is honoured from the same peers (allowed_peers).
        self.allowed_peers = TrustedPeers(config.forwarded_allow_ips)
        self.trusted_peers = self.allowed_peers if config.proxy_headers else None
        self.proxy_protocol = config.proxy_protocol
        # --ready-path, as the engine parses paths; draining: --shutdown-delay has begun.
        self.ready_path = config.ready_path.encode() if config.ready_path else None
        self.draining = False
        # Read for each request: kept here, where the compiled protocol reads them fast.
        self.head_timeout = config.head_timeout
        self.body_timeout = config.body_timeout
        self.keep_alive_timeout = config.keep_alive_timeout
        self.max_pipeline_buffer = config.max_pipeline_buffer
        self.min_body_rate = MinRate(config.min_body_rate, config.min_body_rate_grace)
        self.min_send_rate = MinRate(config.min_send_rate, config.min_send_rate_grace)
        # The app's runners (see run_app): the requests waiting for one, the context
        # each starts from, whether one is starting and whether _watch is scheduled.
        self._ready: deque[RequestCycle] = deque()
        self._context = copy_context()
        self._starting = False
        self._watching = False
        self._task_per_request = config.task_per_request
        # An app of Ferry's own may answer some requests at once, with no task (see
        # StaticFiles.ferry_respond_now), given the request's shared scope template (see
        # answer_at_once); any other app is always called.
        self.respond_now: RespondNow | None = getattr(app, "ferry_respond_now", None)

    def answer_at_once(self, template: Scope) -> ImmediateResponse | None:
        """The answer of the app's ``ferry_respond_now`` to the request whose scope
        template is ``template``, or None when the app must be called: it said None, or
        raised (called, it raises again, and its error is logged and answered as any
        app's)."""
        respond_now = self.respond_now
        assert respond_now is not None
        try:
            return respond_now(template)
        except Exception:
            return None

    def run_websocket(
        self,
        websocket: ModuleType,
        channel: WebSocketChannel,
        request: Request,
        addresses: tuple[Any, Any],
        head_end: float,
        scheme: str = "ws",
        tls: dict[str, Any] | None = None,
    ) -> WebSocketSession:
        """Run the application for a WebSocket handshake (``websocket`` is the module,
        see ``websocket_support``) in a task of its own: the session that will speak
        for it on ``channel``; ``addresses`` are the connection's (client, server)."""
        client, server = addresses

        def log(status: int, body_bytes: int) -> None:
            self.log_websocket(request, client, status, body_bytes, head_end)
            if status == 101 and self.access_log:
                self._websockets[session] = (request, client, head_end)

        scope = build_websocket_scope(
            request, client, server, self.config.root_path, self.lifespan_state, scheme=scheme
        )
        if tls is not None:
            scope["extensions"]["tls"] = tls  # the connection's (ASGI TLS extension)
        settings = websocket.WebSocketSettings(max_size=self.config.ws_max_size)
        session: WebSocketSession = websocket.WebSocketSession(
            channel, request, scope, settings, self.loop, log
        )
        self.spawn(session.run(self.app))
        return session

    def spawn(
        self,
        coroutine: Coroutine[Any, Any, None],
        failed: Callable[[], None] | None = None,
        what: str = "",
    ) -> None:
        """Run ``coroutine`` in a task that shutdown waits for (or cancels). If ``failed``
        is given (a file's sending task gives the transport's abort), an exception of the
        task's is logged as "error ``what``" and ``failed`` called."""

        def done(task: asyncio.Task[None]) -> None:
            self.tasks.discard(task)
            if failed is not None and not task.cancelled() and task.exception() is not None:
                error_log.error("error %s", what, exc_info=task.exception())
                failed()
            self.check_drained()

        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(done)

    def run_app(self, cycle: RequestCycle) -> None:
        """Run the application for one request: queue it for a runner task.

        A task per request costs about a fifth of a small request's work on Python
        3.11 (creating and registering the task, and a loop turn to start it). Most apps
        answer a small request without waiting, so one runner task takes, one after
        another, every request that arrived in one pass of the event loop, and each
        pipelined request that the previous response let in. For the app, it is as if
        it had a task of its own:

        - Each app starts in the server's context: a runner whose app changed its
          context (left a context variable set) takes no further request, and the
          queue goes to a new runner with a fresh copy.
        - An app that waits does not hold up the requests queued behind it: when a
          runner takes a request with more queued, or a request is queued from inside
          a task, ``_watch`` runs at the loop's next turn and starts another runner if
          the queue is still waiting.
        - A runner whose task has a cancellation pending takes no further request.

        What an app can see is that ``asyncio.current_task()`` may be the same task
        for successive requests (``task_per_request`` turns this off; see the README).
        """
        self._ready.append(cycle)
        if self._starting:
            return  # a runner about to start takes it
        if self._task_per_request or current_task(self.loop) is None:
            self._start_runner()
        elif not self._watching:
            self._watching = True
            self.loop.call_soon(self._watch)

    def _watch(self) -> None:
        """At the loop's next turn: requests still queued have no runner that will take
        them before its app is done waiting; start one."""
        self._watching = False
        if self._ready and not self._starting:
            self._start_runner()

    def _start_runner(self) -> None:
        self._starting = not self._task_per_request
        task = self.loop.create_task(self._run_ready(), context=self._context.copy())
        self.tasks.add(task)  # shutdown waits for it, or cancels it

    async def _run_ready(self) -> None:
        """A runner: call the app for queued requests until none is left, or until
        this task is no longer fit for another (see ``run_app``)."""
        self._starting = False
        task = current_task(self.loop)
        assert task is not None
        ready = self._ready
        app: Callable[..., Awaitable[object]] = self.app
        context = copy_context()  # as the runner started: a copy of the server's
        try:
            while ready:
                cycle = ready.popleft()
                if ready and not self._watching:
                    self._watching = True
                    self.loop.call_soon(self._watch)
                try:
                    result = await app(cycle.scope, cycle.receive, cycle.send)
                except Exception as exc:
                    self._app_raised(cycle, exc)
                except BaseException:
                    # Cancelled (by the server's shutdown, or from within the app), or
                    # the process is exiting: the response cannot be finished.
                    self._fail(cycle, "the application was cancelled")
                    raise
                else:
                    if result is not None or not cycle.complete:
                        self._app_returned(cycle, result)
                if (
                    self._task_per_request
                    or copy_context() != context
                    or task.cancelling()
                    or getattr(task, "_must_cancel", False)  # 3.11: pending after uncancel()
                ):
                    break
        finally:
            self.tasks.discard(task)
            if self.shutting_down:
                self.check_drained()
            elif ready and not self._starting and not self._task_per_request:
                self._start_runner()  # the queue's next request has no runner

    def addresses(self, transport: asyncio.Transport) -> tuple[Any, Any]:
        """(client, server) for the ASGI scope: (host, port) pairs, (path, None) for a UNIX
        socket. Memory per idle connection counts: the client's host is interned (many
        connections come from one address), and the server's is the same for every
        connection to one listener, so it is made once and shared. That is the cache
        ``server_addresses``: by socket name (what the listener's socket reports), at
        most 64 entries (then no more are kept), safe because a listener's name and the
        tuple made of it never change."""
        servers = self.server_addresses
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        server = servers.get(sock)
        if server is None:
            if isinstance(sock, str):  # AF_UNIX
                server = (sock, None)
            elif isinstance(sock, tuple):
                server = (str(sock[0]), int(sock[1]))
            if server is not None and len(servers) < 64:
                servers[sock] = server
        if isinstance(sock, str):
            return None, server
        client = (sys.intern(str(peer[0])), int(peer[1])) if isinstance(peer, tuple) else None
        return client, server

    def trusts_peer(self, client: tuple[str, int] | None) -> bool:
        """Whether the proxy headers of a connection from ``client`` are believed."""
        return self.trusted_peers is not None and self.allows_proxy_header(client)

    def allows_proxy_header(self, client: tuple[str, int] | None) -> bool:
        """Whether ``client`` (``None``: a UNIX-socket peer) is one of
        --forwarded-allow-ips, whose PROXY header is believed (--proxy-protocol)."""
        return self.allowed_peers.trusts(client[0] if client else None)

    def proxied(self, request: Request) -> Forwarding | None:
        """What the proxy headers of ``request``, from a trusted peer, establish."""
        assert self.trusted_peers is not None
        return forwarded_from(request.headers, self.trusted_peers)

    def recycle(self) -> None:
        """The server has served its ``recycle_at`` responses: say so, once."""
        self.recycle_at = -1
        if self.on_recycle is not None:
            self.on_recycle()

    def check_drained(self) -> None:
        """During shutdown, set ``drained`` once no connection or app task is left."""
        if self.shutting_down and not self.connections and not self.tasks:
            self.drained.set()

    def _app_raised(self, cycle: RequestCycle, exc: Exception) -> None:
        if isinstance(exc, LocalProtocolError):
            error_log.error("invalid ASGI message from the application: %s", exc)
        elif cycle.disconnected and _from_disconnect(exc):
            # A client that leaves is normal: the app's send raised ClientDisconnected
            # (an OSError), and what the app raised grew out of it (Starlette's
            # StreamingResponse turns it into its own ClientDisconnect). One debug line.
            error_log.debug("the client left before the response was sent: %r", exc)
        else:
            error_log.error("exception in ASGI application", exc_info=exc)
        self._fail(cycle, "exception in ASGI application")

    def _app_returned(self, cycle: RequestCycle, result: object) -> None:
        """The app returned something other than None, or before its response was done."""
        if result is not None:
            error_log.error("the ASGI application returned a value instead of None")
        if not cycle.started:
            error_log.error("the ASGI application returned without starting a response")
            self._fail(cycle, "no response from the application")
        elif not cycle.complete:
            error_log.error("the ASGI application returned without completing its response")
            self._fail(cycle, "incomplete response")

    @staticmethod
    def _fail(cycle: RequestCycle, message: str) -> None:
        """500 if nothing was sent yet; else abort (ASGI: the response cannot be fixed)."""
        cycle.channel.app_failed(cycle, message)

    def log_access(
        self, request: Request | None, client: tuple[str, int] | None, cycle: RequestCycle
    ) -> None:
        """The access-log line of ``cycle``'s exchange (see ``log_exchange``)."""
        self.log_exchange(
            request,
            client,
            cycle.status,
            cycle.body_bytes_sent,
            cycle.start_time,
            cycle.response_fields,
        )

    def log_websocket(
        self,
        request: Request | None,
        client: tuple[str, int] | None,
        status: int,
        body_bytes: int,
        start_time: float,
    ) -> None:
        """The access-log line of a WebSocket handshake, in ``log_access``'s format:
        ``status`` is 101 when the app accepted, else the denial's (or the error's);
        ``body_bytes`` that response's body; the duration runs from ``start_time`` (the
        request's head parsed) to the answer, so that the line is written when the
        WebSocket opens rather than hours later. An accepted session gets a second line
        when it ends (``upgrade_ended``)."""
        self.log_exchange(request, client, status, body_bytes, start_time)

    def upgrade_ended(self, upgraded: object) -> None:
        """The connection ``upgraded`` (a WebSocket session, or a PROXY header's reader)
        is gone: an accepted WebSocket's second line, in the access log's format, with
        the whole session's duration and its close code (1000-4999: never an HTTP
        status) in place of the status."""
        opened = self._websockets.pop(upgraded, None)
        if opened is not None:
            request, client, start_time = opened
            code = getattr(upgraded, "close_code", None)
            self.log_exchange(request, client, code or 1006, 0, start_time)

    def log_exchange(
        self,
        request: Request | None,
        client: tuple[str, int] | None,
        status: int,
        body_bytes: int,
        start_time: float,
        response_fields: Fields = (),
    ) -> None:
        """One access-log line: the ``request`` as received (the engine's, not the
        scope: its path carries root_path, and the application may have rewritten it),
        the ``client``'s address (behind a trusted proxy, the one it names), the status
        and body size sent, the time since ``start_time``, and the response's fields as
        the application gave them (for the {name}o atoms), in the configured format."""
        if not self.access_log:
            return
        if request is None:  # pragma: no cover - a cycle keeps its request until logged
            return
        self._write_access(request, client, status, body_bytes, start_time, response_fields)


def websocket_support() -> ModuleType | None:
    """ferry.websocket if websockets is installed (the ``ferry[ws]`` extra), else None: an
    Upgrade request is then served as plain HTTP (RFC 9110 §7.8: a server MAY ignore it)."""
    try:
        importlib.import_module("websockets")
    except ImportError:
        return None
    return importlib.import_module("ferry.websocket")


def _from_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` comes of the connection breaking: an OSError (ClientDisconnected
    is one) anywhere in its chain of causes and contexts, or in every exception of an
    exception group (anyio's task groups raise those)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            return True
        if isinstance(current, BaseExceptionGroup):
            return all(_from_disconnect(inner) for inner in current.exceptions)
        current = current.__cause__ or current.__context__
    return False
