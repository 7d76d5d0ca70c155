"""One asyncio.Protocol per connection: it feeds the engine, runs the ASGI cycle, and
owns flow control and deadlines. Call order (asyncio's)::

    connection_made -> data_received* -> eof_received? -> connection_lost

Protocol errors become responses in exactly one place: ``send_error``.
"""

from __future__ import annotations

import _socket
import asyncio
import importlib
import logging
import os
import socket
import sys
import typing
from time import perf_counter
from typing import IO, TYPE_CHECKING, Any, Final

from .._errors import LocalProtocolError, RemoteProtocolError
from ..asgi._cycle import RequestCycle
from ..asgi._scope import build_scope, build_websocket_scope, scope_template
from ..http1 import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Fields,
    Headers,
    Request,
    ServerConnection,
    State,
    reason_phrase,
)
from ._sendfile import SENDFILE_TURN, send_file

if TYPE_CHECKING:
    from types import ModuleType

    from ..websocket import WebSocketSession
    from ._state import ServerState

__all__ = ["HTTPProtocol"]

logger = logging.getLogger("ferry.error")

# Kinds of deadline a connection can be under (checked by the server's ticker).
NO_DEADLINE: Final = 0
HEAD: Final = 1
IDLE: Final = 2
BODY: Final = 3

_BODY_HIGH_WATER: Final = 65536  # queued request-body bytes that pause reading
_MAX_NESTING: Final = 16  # pipelined requests answered in one call chain (response_complete)
_BATCH_BYTES: Final = 65536  # pipelined responses held back for one write, at most
_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux only
_TCP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_CORK_UNKNOWN: Final = -1  # HTTPProtocol._cork_fd before the first file response
_CORK_NEVER: Final = -2  # ... for a socket that can't be corked
# What _cork calls, bound once: compiled code reads these directly, where
# `_socket.socket` looks the name up in the module on every call.
_BARE_SOCKET: Final = _socket.socket
_AF_INET: Final = _socket.AF_INET
_SOCK_STREAM: Final = _socket.SOCK_STREAM
_IPPROTO_TCP: Final = _socket.IPPROTO_TCP
_SENDFILE_TURN: Final = SENDFILE_TURN  # (a static here, not a lookup in that module)


class HTTPProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one connection."""

    __slots__ = (
        "_batch",
        "_batch_seen",
        "_batch_size",
        "_cork_fd",
        "_drain_waiter",
        "_head_start",
        "_lost",
        "_read_paused",
        "_write_paused",
        "client",
        "conn",
        "cycle",
        "deadline",
        "deadline_kind",
        "responses",
        "server",
        "state",
        "transport",
        "upgraded",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        config = state.config
        self.conn = ServerConnection(
            state.limits,
            state.response_settings,
            max_requests=config.max_requests_per_connection,
            max_drain=config.max_drain,
        )
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.cycle: RequestCycle | None = None
        self.upgraded: WebSocketSession | None = None  # the WebSocket this connection became
        self.client: tuple[str, int] | None = None
        # (host, port), or (path, None) on a UNIX socket: a tuple of any length, which the
        # compiled accelerator keeps as it is.
        self.server: tuple[Any, ...] | None = None
        self.deadline = 0.0
        self.deadline_kind = NO_DEADLINE
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False  # connection_lost has run
        self._head_start = 0.0  # perf_counter() when this request's first byte came
        self.responses = 0  # responses completed on this connection
        # Pipelined responses written as one (see _start_batch): None when not batching.
        self._batch: list[bytes] | None = None
        self._batch_size = 0
        self._batch_seen = 0  # self.responses when the batch was last looked at
        self._cork_fd = _CORK_UNKNOWN  # the socket's descriptor, for TCP_CORK (see _cork)

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport = typing.cast(asyncio.Transport, transport)
        state = self.state
        state.connections.add(self)
        self.client, self.server = _addresses(transport, state.server_addresses)
        if len(state.connections) > state.config.max_connections:
            self.send_error(503, "too many connections")
            return
        if state.shutting_down:
            # Accepted just before the listener closed, too late for shutdown() to see:
            # serve the request it may carry, and say the connection ends with it.
            self.conn.close_after_response()
        self._set_deadline(HEAD, state.head_timeout)

    def data_received(self, data: bytes) -> None:
        if self.upgraded is not None:
            self.upgraded.data_received(data)
            return
        self.conn.receive_data(data)
        if self.cycle is None:
            if not self._head_start:
                self._head_start = perf_counter()  # for Server-Timing's "head" phase
            self._next_request()
        elif self.conn.their_state is State.SEND_BODY:
            self._pump_body()
        elif self.conn.buffered_size > self.state.max_pipeline_buffer:
            self._pause_reading()  # pipelined requests wait; their buffer is bounded

    def eof_received(self) -> bool:
        if self.upgraded is not None:
            self.upgraded.eof_received()
            return True
        self.conn.receive_eof()
        if self.cycle is None:
            self._next_request()
        elif self.conn.their_state is State.SEND_BODY:
            self._pump_body()
        else:
            # The request is complete and the client has closed its side: an app still
            # listening for more learns of it (http.disconnect), but the response can
            # still be written - a half-closed client reads it (RFC 9112 §9.6).
            self.cycle.peer_closed()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._batch = None
        self.state.connections.discard(self)
        self.state.check_drained()
        self.deadline_kind = NO_DEADLINE
        if self.cycle is not None:
            self.cycle.disconnect()
            self.cycle = None
        if self.upgraded is not None:
            self.upgraded.connection_lost()
        self._wake_drain()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # -- requests -----------------------------------------------------------------------

    def _next_request(self) -> None:
        """Parse the next request head from the buffer and start its cycle."""
        try:
            event = self.conn.next_event()
        except RemoteProtocolError as exc:
            self.send_error(exc.status, str(exc))
            return
        if type(event) is Request:
            self._start_cycle(event)
        elif event is NEED_DATA:
            # A head begun and not complete: from its first piece on it has head_timeout
            # to arrive whole (not reset by each further piece: slowloris).
            if self.deadline_kind != HEAD and self.conn.buffered_size:
                self._set_deadline(HEAD, self.state.head_timeout)
        elif type(event) is ConnectionClosed or not self.conn.keep_alive:
            self._close()

    def _start_cycle(self, request: Request) -> None:
        if request.upgrade == b"websocket" and self.state.config.ws != "none":
            websocket = _websocket_support()
            if websocket is not None and websocket.is_rfc6455_handshake(request):
                self._flush()  # the responses before it go out before the 101
                self._start_websocket(websocket, request)
                return
        state = self.state
        head_end = perf_counter()
        head_start = self._head_start or head_end  # a pipelined head: already here
        self._head_start = 0.0
        conn = self.conn
        self.deadline_kind = NO_DEADLINE
        bodiless = conn.end_bodiless_request()
        if bodiless and state.respond_now is not None and self._respond_now(request, head_end):
            return
        scope = build_scope(self, request, head_start, head_end)
        cycle = self.cycle = RequestCycle(scope, self, conn, head_end)
        if bodiless:
            cycle.feed_end()
        else:
            self._pump_body()
            if self.cycle is not cycle:
                return  # the body was bad: answered with an error
        state.run_app(cycle)

    def _respond_now(self, request: Request, head_end: float) -> bool:
        """Answer with the app's ``ferry_respond_now``, if it can answer at once; False
        when the app must be called (it said None, or raised: called, it raises again,
        and its error is logged and answered as any app's).

        The hook is given the request's shared scope template (``scope_template``): no
        scope is built for a request answered here.
        """
        respond_now = self.state.respond_now
        assert respond_now is not None
        template = scope_template(self, request)
        try:
            answer = respond_now(template)
        except Exception:
            return False
        if answer is None:
            return False
        cycle = self.cycle = RequestCycle(template, self, self.conn, head_end)
        cycle.feed_end()
        status, headers, body = answer
        try:
            if type(body) is bytes:
                cycle.respond(status, headers, body)
            else:
                fd, size = body
                self._respond_with_file(cycle, status, headers, fd, size)
        except LocalProtocolError as exc:
            logger.error("invalid response from the application: %s", exc)
            self.app_failed(cycle, "invalid response from the application")
        return True

    def _respond_with_file(
        self, cycle: RequestCycle, status: int, headers: Fields, fd: int, size: int
    ) -> None:
        """Send the whole file ``fd`` (``size`` bytes, ours to close) as the response.

        What ``sendfile`` does, without a task while the socket takes the file at once:
        corked, the head, then ``os.sendfile`` until done, or until one turn's worth
        (``SENDFILE_TURN``) is sent. Whatever else happens (the rest of a bigger file, the
        socket full, an error, a file that shrank) goes on in a task running
        ``sendfile``, from where this stopped.
        """
        try:
            head = cycle.start_external(status, headers, size)
        except BaseException:
            os.close(fd)
            raise
        sent = 0
        # At most one turn's worth here; past it a task goes on, after the others' turn.
        now = min(size, _SENDFILE_TURN)
        socket_fd = self._cork_fd if self._cork(1) else _CORK_NEVER
        self.write(head)
        self._flush()
        if socket_fd >= 0 and not self.transport.get_write_buffer_size():
            while sent < now:
                try:
                    n = os.sendfile(socket_fd, fd, sent, now - sent)
                except OSError:
                    break  # the socket is full, or worse: sendfile() below sees to it
                if not n:
                    break  # the file shrank: sendfile() below says so
                sent += n
        if sent == size:
            self._cork(0)
            os.close(fd)
            cycle.end_external(size)
            return
        file = open(fd, "rb", buffering=0)  # noqa: SIM115 - _send_rest closes it
        task = self.state.loop.create_task(self._send_rest(cycle, file, sent, size))
        self.state.tasks.add(task)
        task.add_done_callback(self._file_sent)

    async def _send_rest(
        self, cycle: RequestCycle, file: IO[bytes], offset: int, size: int
    ) -> None:
        """The rest of ``_respond_with_file``'s file, from ``offset`` on."""
        try:
            with file:
                await self.sendfile(file, offset, size - offset, b"")
            if not cycle.disconnected:
                cycle.end_external(size)
        except LocalProtocolError as exc:  # the file shrank: the response can't be fixed
            logger.error("invalid response from the application: %s", exc)
            self.app_failed(cycle, "invalid response from the application")

    def _file_sent(self, task: asyncio.Task[None]) -> None:
        self.state.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("error sending a file", exc_info=task.exception())
            self.transport.abort()
        self.state.check_drained()

    def _start_websocket(self, websocket: ModuleType, request: Request) -> None:
        """Hand the connection to a WebSocket session (RFC 6455 §4.2) and run the app."""
        self.conn.next_event()  # the EndOfMessage of the bodiless request
        self._head_start = 0.0
        self.deadline_kind = NO_DEADLINE
        state = self.state
        head_end = perf_counter()
        problem = websocket.handshake_problem(request)
        if problem is not None:
            sent = self.send_error(problem.status, problem.message, problem.headers)
            state.log_websocket(self, problem.status, sent, head_end)
            return

        def log(status: int, body_bytes: int) -> None:
            state.log_websocket(self, status, body_bytes, head_end)

        session: WebSocketSession = websocket.WebSocketSession(
            self,
            request,
            build_websocket_scope(self, request),
            websocket.WebSocketSettings(max_size=state.config.ws_max_size),
            state.loop,
            log,
        )
        self.upgraded = session
        task = state.loop.create_task(session.run(state.app))
        state.tasks.add(task)
        task.add_done_callback(self._websocket_done)

    def _websocket_done(self, task: asyncio.Task[None]) -> None:
        self.state.tasks.discard(task)
        self.state.check_drained()

    def _pump_body(self) -> None:
        """Hand the request body received so far to the cycle."""
        cycle = self.cycle
        assert cycle is not None
        conn = self.conn
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                cycle.disconnect()
                self.send_error(exc.status, str(exc))
                return
            if type(event) is Data:
                cycle.feed_body(event.data)
            elif type(event) is EndOfMessage:
                cycle.feed_end()
                self.deadline_kind = NO_DEADLINE
                return
            else:  # NEED_DATA
                if cycle.queued >= _BODY_HIGH_WATER:
                    self._pause_reading()  # the app reads slower than the client sends
                elif cycle.body_wanted:
                    self._set_deadline(BODY, self.state.body_timeout)
                return

    # -- what the cycle asks of us (asgi._cycle.Channel) -------------------------------

    @property
    def write_paused(self) -> bool:
        # A closing transport drops what is written, and its connection_lost is only
        # scheduled: an app sending in a loop must wait for it in drain(), or it would
        # spin without ever yielding to the loop (and never learn the client is gone).
        return self._write_paused or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        batch = self._batch
        if batch is not None:
            batch.append(data)
            self._batch_size += len(data)
            if self._batch_size >= _BATCH_BYTES:
                self._flush()
        elif not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark, or
        until the connection is lost."""
        self._flush()
        if self.write_paused and not self._lost:
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = self.state.loop.create_future()
            await waiter

    async def sendfile(self, file: IO[bytes], offset: int, count: int, head: bytes) -> None:
        """Write ``head``, then ``count`` bytes of ``file`` from ``offset`` (see
        server/_sendfile.py).

        On TCP the socket is corked meanwhile (TCP_CORK, what nginx's ``tcp_nopush``
        does): the head waits for the file's first bytes and every segment leaves full.
        Uncorked, the head left alone in a small segment and the file's bytes were then
        sent from the client's ACKs, on the client's CPU: a 1 MiB file went out at about
        two thirds of the rate.
        """
        corked = self._cork(1)
        try:
            self.write(head)
            self._flush()
            await send_file(self, file, offset, count)
        finally:
            if corked:
                self._cork(0)

    def _cork(self, on: int) -> bool:
        """Set TCP_CORK on the socket (1) or take it off (0); False where the socket can't
        be corked (not TCP, TLS, not Linux) or is gone.

        The descriptor is looked up once per connection; each call wraps it in a bare
        ``_socket.socket`` and lets go of it after (uvloop's socket stand-in makes a
        ``socket.socket`` per call, and asks the kernel for its address twice; the bare
        constructor still checks the descriptor with one ``getsockname``)."""
        fd = self._cork_fd
        if fd == _CORK_UNKNOWN:
            fd = self._cork_fd = _corkable_fd(self.transport)
        option = _TCP_CORK
        if fd < 0 or option is None or self._lost or self.transport.is_closing():
            return False  # (a closing transport's descriptor may be closed, and reused)
        sock = _BARE_SOCKET(_AF_INET, _SOCK_STREAM, _IPPROTO_TCP, fd)
        try:
            sock.setsockopt(_IPPROTO_TCP, option, on)
        except OSError:  # the peer may have reset meanwhile: send_file will find out
            return False
        finally:
            sock.detach()  # the transport owns the descriptor
        return True

    @property
    def lost(self) -> bool:
        """Whether the connection is gone (connection_lost has run)."""
        return self._lost

    def body_requested(self) -> None:
        """The app waits for the body: from now on the client must send it in time.

        Not before: a client that sent ``Expect: 100-continue`` holds its body back until
        the 100 (RFC 9110 §10.1.1), which goes out only now.
        """
        if (
            self.cycle is not None
            and self.conn.their_state is State.SEND_BODY
            and not self._read_paused
        ):
            self._set_deadline(BODY, self.state.body_timeout)

    def body_consumed(self) -> None:
        if self._read_paused and self.cycle is not None:
            self._resume_reading()
            if self.conn.their_state is State.SEND_BODY:
                self._set_deadline(BODY, self.state.body_timeout)
                self._pump_body()

    def response_complete(self, cycle: RequestCycle) -> None:
        """The response is on the wire: log it, then close or go on to the next request."""
        if cycle is not self.cycle:
            return
        self.cycle = None
        self.responses += 1
        if self.state.access_log:
            self.state.log_access(self, cycle)
        conn = self.conn
        if not conn.keep_alive or self.state.shutting_down:
            self._close()
            return
        conn.start_next_cycle()
        self._set_deadline(IDLE, self.state.keep_alive_timeout)
        if self._read_paused:
            self._resume_reading()
        if conn.has_pending_input:
            if conn.buffered_size and self._batch is None:
                self._start_batch()
            # A pipelined request, an unread body, or the client's EOF. A response
            # answered at once (_respond_now) completes inside this very call, so a long
            # pipeline of them would nest one call deeper per request: past a few, go
            # on from the event loop instead.
            state = self.state
            if state.nesting < _MAX_NESTING:
                state.nesting += 1
                try:
                    self._next_request()
                finally:
                    state.nesting -= 1
            else:
                state.loop.call_soon(self._next_request)

    # -- pipelined responses: one write for many --------------------------------------

    def _start_batch(self) -> None:
        """Hold the responses to the pipelined requests waiting in the buffer, to write
        them out together (one send instead of one per response).

        A response is held only while the pipeline makes progress: each loop iteration
        ``_batch_tick`` checks that another response was completed since the last one;
        when none was (the next application is waiting for something), or when the
        pipeline ends, or past _BATCH_BYTES, the batch is written. Everything that
        writes to the transport itself flushes it first, so the order never changes.
        """
        self._batch = []
        self._batch_size = 0
        self._batch_seen = self.responses - 1  # the first tick always finds progress
        self.state.loop.call_soon(self._batch_tick)

    def _batch_tick(self) -> None:
        if self._batch is None:
            return
        if self.responses != self._batch_seen and (
            self.cycle is not None or self.conn.has_pending_input
        ):
            self._batch_seen = self.responses
            self.state.loop.call_soon(self._batch_tick)
        else:
            self._flush()

    def _flush(self) -> None:
        """Write the held responses, and stop holding them."""
        batch = self._batch
        if batch is not None:
            self._batch = None
            if batch and not self.transport.is_closing():
                self.transport.write(b"".join(batch))

    def _close(self) -> None:
        self._flush()
        self.transport.close()

    # -- errors, deadlines, shutdown ----------------------------------------------------

    def app_failed(self, cycle: RequestCycle, message: str) -> None:
        """The app failed its request: a 500 if nothing was sent yet, access-logged like
        any response; else the connection is aborted (the response cannot be fixed)."""
        if cycle is not self.cycle:
            return  # the response is complete, or the client is gone
        if not self.conn.response_started:
            cycle.status = 500
            cycle.body_bytes_sent = self.send_error(500, message)
            self.state.log_access(self, cycle)
        else:
            self.send_error(500, message)

    def send_error(self, status: int, message: str, headers: Headers | None = None) -> int:
        """The one place a protocol error, a timeout or an app failure becomes a response.

        The response says ``Connection: close`` and the connection is closed after it;
        ``headers`` are fields it carries besides Content-Type (such as 426's Upgrade).
        If a response has already started, the connection is aborted instead. Returns the
        length of the response body sent (0 when aborted).
        """
        logger.debug("%s %s: %s", status, reason_phrase(status).decode(), message)
        conn = self.conn
        conn.close_after_response()
        self.deadline_kind = NO_DEADLINE
        if self.cycle is not None:
            self.cycle.disconnect()
            self.cycle = None
        if conn.response_started:
            self._batch = None  # aborted: what is held goes with the connection
            self.transport.abort()
            return 0
        text = reason_phrase(status).decode()
        detail = message if status < 500 else text
        body = f"{status} {text}: {detail}\n".encode()
        data = conn.send_response(
            status,
            [(b"content-type", b"text/plain; charset=utf-8"), *(headers or ())],
            body=body,
            end=True,
        )
        self.write(data)
        self._close()
        return len(body)

    def check_deadline(self, now: float) -> None:
        """Called by the server's ticker: act on an expired deadline."""
        kind = self.deadline_kind
        if kind == NO_DEADLINE or now < self.deadline:
            return
        if kind == IDLE or (kind == HEAD and not self.conn.buffered_size):
            self.deadline_kind = NO_DEADLINE
            self._close()  # an idle connection: nothing to answer
        elif kind == HEAD:
            self.send_error(408, "request head not received in time")
        else:
            self.send_error(408, "request body not received in time")

    def shutdown(self) -> None:
        """Server shutdown: close now if idle, else after the response in flight."""
        self.conn.close_after_response()
        if self.upgraded is not None:
            self.upgraded.shutdown()
        elif self.cycle is None:
            self._close()

    def _set_deadline(self, kind: int, timeout: float) -> None:
        self.deadline_kind = kind
        self.deadline = self.state.loop.time() + timeout

    def _pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.deadline_kind = NO_DEADLINE
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)


def _websocket_support() -> ModuleType | None:
    """ferry.websocket if websockets is installed (the ``ferry[ws]`` extra), else None: an
    Upgrade request is then served as plain HTTP (RFC 9110 §7.8: a server MAY ignore it)."""
    try:
        importlib.import_module("websockets")
    except ImportError:
        return None
    return importlib.import_module("ferry.websocket")


def _corkable_fd(transport: asyncio.Transport) -> int:
    """The descriptor of the transport's TCP socket, if it can be corked (Linux; not
    under TLS, whose layer writes records of its own); else _CORK_NEVER."""
    if _TCP_CORK is None or transport.get_extra_info("sslcontext") is not None:
        return _CORK_NEVER
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in _TCP_FAMILIES:
        return _CORK_NEVER
    fd: int = sock.fileno()
    return fd if fd >= 0 else _CORK_NEVER


def _addresses(transport: asyncio.Transport, servers: dict[Any, Any]) -> tuple[Any, Any]:
    """(client, server) for the ASGI scope: (host, port) pairs, (path, None) for a UNIX
    socket. The server's is the same for every connection to one listener, so it is
    made once (``servers``, by socket name) and shared; the client's host is interned
    (many connections come from one address). Memory per idle connection counts."""
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
