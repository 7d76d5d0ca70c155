"""One asyncio.Protocol per connection: the asyncio callbacks, and the one driver of the
engine's server role. Call order (asyncio's)::

    connection_made -> data_received* -> eof_received? -> connection_lost

It feeds the engine (``ServerConnection``), runs each request's ASGI cycle, and turns the
neutral calls of the cycle (``asgi._cycle.HTTPChannel``) and of a WebSocket session
(``websocket.WebSocketChannel``) into the engine's sending verbs: nothing else calls
them. Homes of their own: file sending (``_sendfile``), the batching of pipelined
responses (``_batch``), the kinds of deadline (``_deadline``). Protocol errors become
responses in exactly one place: ``send_error``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import typing
from collections.abc import Callable
from time import perf_counter
from typing import IO, TYPE_CHECKING, Any, Final

from .._errors import LocalProtocolError, RemoteProtocolError
from ..asgi._cycle import RequestCycle, ResponseStart
from ..asgi._scope import build_scope
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
from ._batch import WriteBatch
from ._deadline import Deadline
from ._sendfile import FileSender
from ._state import websocket_support

if TYPE_CHECKING:
    from types import ModuleType

    from ..websocket import WebSocketSession
    from ._state import ServerState

__all__ = ["HTTPProtocol"]

logger = logging.getLogger("ferry.error")

_BODY_HIGH_WATER: Final = 65536  # queued request-body bytes that pause reading
_MAX_NESTING: Final = 16  # pipelined requests answered in one call chain (response_complete)
# During shutdown, how long a connection that has sent nothing yet gets for its request
# (at most head_timeout): it likely carries one on its way (a client connected to send
# it), but a browser's speculative connection may never send, and would hold shutdown.
_FIRST_REQUEST_AT_SHUTDOWN: Final = 1.0
# The deadline kinds, bound once (statics of this module for the compiled accelerator).
_NO_DEADLINE: Final = Deadline.NONE
_HEAD: Final = Deadline.HEAD
_IDLE: Final = Deadline.IDLE
_BODY: Final = Deadline.BODY


class HTTPProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one connection."""

    __slots__ = (
        "_batch",
        "_drain_waiter",
        "_files",
        "_head_start",
        "_lost",
        "_peer_closed",
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
        # (host, port), or (path, None) for UNIX: a tuple the compiled code keeps as is.
        self.server: tuple[Any, ...] | None = None
        self.deadline = 0.0
        self.deadline_kind = _NO_DEADLINE
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False  # connection_lost has run, or the connection lingers (_close)
        self._peer_closed = False  # eof_received has run
        self._head_start = 0.0  # perf_counter() when this request's first byte came
        self.responses = 0  # responses completed on this connection
        self._batch: WriteBatch | None = None  # pipelined responses held (see _start_batch)
        self._files: FileSender | None = None  # made at the first file response

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport = typing.cast(asyncio.Transport, transport)
        state = self.state
        state.connections.add(self)
        self.client, self.server = state.addresses(transport)
        if len(state.connections) > state.config.max_connections:
            self.send_error(503, "too many connections")
            return
        if state.shutting_down:
            # Accepted from the backlog at shutdown (Server._take_backlog), or just before
            # the listener closed: serve the request it may carry, and say the connection
            # ends with it.
            self.conn.close_after_response()
            self._set_deadline(_HEAD, min(state.head_timeout, _FIRST_REQUEST_AT_SHUTDOWN))
        else:
            self._set_deadline(_HEAD, state.head_timeout)

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
        self._peer_closed = True
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
        self._detach()
        if self.upgraded is not None:
            self.upgraded.connection_lost()

    def _detach(self) -> None:
        """The connection is gone, or no longer ours (lingering): let go of it."""
        self._lost = True
        self._batch = None
        self.state.connections.discard(self)
        self.state.check_drained()
        self._clear_deadline()
        if self.cycle is not None:
            self.cycle.disconnect()
            self.cycle = None
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
            if self.deadline_kind is not _HEAD and self.conn.buffered_size:
                self._set_deadline(_HEAD, self.state.head_timeout)
        elif type(event) is ConnectionClosed or not self.conn.keep_alive:
            self._close()

    def _start_cycle(self, request: Request) -> None:
        if request.upgrade == b"websocket" and self.state.config.ws != "none":
            websocket = websocket_support()
            if websocket is not None and websocket.is_rfc6455_handshake(request):
                self.flush()  # the responses before it go out before the 101
                self._start_websocket(websocket, request)
                return
        state = self.state
        head_end = perf_counter()
        head_start = self._head_start or head_end  # a pipelined head: already here
        self._head_start = 0.0
        conn = self.conn
        self._clear_deadline()
        bodiless = conn.end_bodiless_request()
        if bodiless and state.respond_now is not None and self._respond_now(request, head_end):
            return
        scope = build_scope(
            state.scope_templates.get(request),
            request,
            self.client,
            self.server,
            state.lifespan_state,
            conn.requests_received,
            conn.keep_alive,
            conn.preview_response_head,
            head_start,
            head_end,
        )
        cycle = self.cycle = RequestCycle(scope, self, head_end)
        if bodiless:
            cycle.feed_end()
        else:
            self._pump_body()
            if self.cycle is not cycle:
                return  # the body was bad: answered with an error
        state.run_app(cycle)

    def _respond_now(self, request: Request, head_end: float) -> bool:
        """Answer at once, if the app's ``ferry_respond_now`` can (see
        ``ServerState.answer_at_once``); False when the app must be called. The hook is
        given the request's shared scope template (``ScopeTemplates``): no scope is built.
        """
        template = self.state.scope_templates.get(request)
        answer = self.state.answer_at_once(template)
        if answer is None:
            return False
        cycle = self.cycle = RequestCycle(template, self, head_end)
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
        """Send the whole file ``fd`` (``size`` bytes, ours to close) as the response
        (``FileSender.send_whole``: at once while the socket takes it, else in a task)."""
        conn = self.conn
        try:
            cycle.start_external(status, headers)
            head = conn.send_response(status, headers, length=size)
            frame = conn.frame_external(size)
        except BaseException:
            os.close(fd)
            raise
        head = head + frame[0] if frame is not None else head
        self._file_sender().send_whole(cycle, fd, size, head)

    def end_file(self, cycle: RequestCycle, size: int) -> None:
        """The ``size`` bytes of a file answered at once are out: end the response."""
        self.write(self.conn.send_end())
        cycle.end_external(size)

    def _file_sender(self) -> FileSender:
        files = self._files
        if files is None:
            files = self._files = FileSender(self, self.state.spawn)
        return files

    def _start_websocket(self, websocket: ModuleType, request: Request) -> None:
        """Hand the connection to a WebSocket session (RFC 6455 §4.2) and run the app."""
        self.conn.next_event()  # the EndOfMessage of the bodiless request
        self._head_start = 0.0
        self._clear_deadline()
        state = self.state
        head_end = perf_counter()
        problem = websocket.handshake_problem(request)
        if problem is not None:
            sent = self.send_error(problem.status, problem.message, problem.headers)
            state.log_websocket(request, self.client, problem.status, sent, head_end)
            return
        addresses = self.client, self.server
        self.upgraded = state.run_websocket(websocket, self, request, addresses, head_end)

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
                self._clear_deadline()
                return
            else:  # NEED_DATA
                if cycle.queued >= _BODY_HIGH_WATER:
                    self._pause_reading()  # the app reads slower than the client sends
                elif cycle.body_wanted:
                    self._set_deadline(_BODY, self.state.body_timeout)
                return

    # -- what the cycle asks of us (asgi._cycle.HTTPChannel) ---------------------------

    @property
    def write_paused(self) -> bool:
        # A closing transport drops what is written, and its connection_lost is only
        # scheduled: an app sending in a loop must wait for it in drain(), or it would
        # spin without ever yielding to the loop (and never learn the client is gone).
        return self._write_paused or self.transport.is_closing()

    def send_response(self, status: int, headers: Fields, body: bytes, end: bool) -> None:
        """Start the response: its head, with ``body`` (and its end, if ``end``)."""
        self.write(self.conn.send_response(status, headers, body=body, end=end))

    def send_body(self, body: bytes, end: bool) -> None:
        """A piece of the response body, framed (and its end, if ``end``)."""
        conn = self.conn
        data = conn.send_data(body)
        self.write(data + conn.send_end() if end else data)

    def end_response(self, trailers: Fields | None) -> None:
        """The end of the response body, with ``trailers`` under chunked framing."""
        self.write(self.conn.send_end(trailers))

    def send_informational(self, status: int, headers: Fields) -> None:
        """A 1xx response (such as 103 Early Hints); nothing to an HTTP/1.0 client."""
        data = self.conn.send_informational(status, headers)
        if data:
            self.write(data)

    async def send_file_range(
        self, file: IO[bytes], offset: int, count: int, end: bool, start: ResponseStart | None
    ) -> int:
        """``count`` bytes of ``file`` from ``offset`` as a piece of the body, after the
        head if ``start`` is given (corked with it, see ``FileSender``), and the end if
        ``end``; the body bytes sent (0 for a bodiless response: HEAD, 204, 304). If the
        cycle is detached meanwhile (the client gone), nothing more is written."""
        conn = self.conn
        cycle = self.cycle
        head = b"" if start is None else conn.send_response(start[0], start[1], length=start[2])
        frame = conn.frame_external(count)
        after, sent = b"", 0
        if frame is not None and count:
            before, after = frame
            await self._file_sender().send(file, offset, count, head + before)
            head = b""
            sent = count
            if self.cycle is not cycle:
                return sent
        self.write(head + after + conn.send_end() if end else head + after)
        return sent

    def write(self, data: bytes) -> None:
        """Write ``data`` (or hold it in the batch of pipelined responses, _start_batch)."""
        batch = self._batch
        if batch is not None:
            if batch.add(data):
                self.flush()
        elif not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark, or
        until the connection is lost."""
        self.flush()
        if self.write_paused and not self._lost:
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = self.state.loop.create_future()
            await waiter

    @property
    def lost(self) -> bool:
        """Whether the connection is gone (connection_lost has run)."""
        return self._lost

    def body_requested(self) -> None:
        """The app waits for the body: a ``100 Continue`` goes out if the client waits
        for one (RFC 9110 §10.1.1), and from now on, not before (a client that sent
        ``Expect: 100-continue`` holds its body back until then), it must send in time."""
        data = self.conn.send_continue()
        if data:
            self.write(data)
        if (
            self.cycle is not None
            and self.conn.their_state is State.SEND_BODY
            and not self._read_paused
        ):
            self._set_deadline(_BODY, self.state.body_timeout)

    def body_consumed(self) -> None:
        if self._read_paused and self.cycle is not None:
            self._resume_reading()
            if self.conn.their_state is State.SEND_BODY:
                self._set_deadline(_BODY, self.state.body_timeout)
                self._pump_body()

    def response_complete(self, cycle: RequestCycle) -> None:
        """The response is on the wire: log it, then close or go on to the next request.

        Whether to keep the connection is the engine's decision (``keep_alive``)."""
        if cycle is not self.cycle:
            return
        self.cycle = None
        self.responses += 1
        state = self.state
        conn = self.conn
        if state.access_log:
            state.log_access(conn.request, self.client, cycle)
        if not conn.keep_alive or state.shutting_down:
            self._close()
            return
        conn.start_next_cycle()
        self._set_deadline(_IDLE, state.keep_alive_timeout)
        if self._read_paused:
            self._resume_reading()
        if conn.has_pending_input:
            if conn.buffered_size and self._batch is None:
                self._start_batch()
            # A pipelined request, an unread body, or the client's EOF. A response
            # answered at once (_respond_now) completes inside this call: past a few of
            # them nested, go on from the event loop instead.
            if state.nesting < _MAX_NESTING:
                state.nesting += 1
                try:
                    self._next_request()
                finally:
                    state.nesting -= 1
            else:
                state.loop.call_soon(self._next_request)

    # -- what the WebSocket session asks of us (websocket.WebSocketChannel) -----------

    def hold_data(self, data: bytes) -> int:
        """Keep bytes received before the accept (``switch_protocols`` hands them back);
        how many are held."""
        conn = self.conn
        conn.receive_data(data)
        return conn.buffered_size

    def switch_protocols(self, headers: Fields, switched: Callable[[], None]) -> bytes:
        """Write the 101 accepting the Upgrade (``switched`` is called just before it is
        written); the bytes received after the request, the new protocol's."""
        head, trailing = self.conn.send_switching_protocols(headers)
        switched()
        self.write(head)
        return trailing

    def close_after_response(self) -> None:
        """The connection ends after the response in flight (``Connection: close``)."""
        self.conn.close_after_response()

    # -- pipelined responses: one write for many --------------------------------------

    def _start_batch(self) -> None:
        """Hold the responses to the pipelined requests waiting in the buffer, to write
        them as one (see ``_batch``): until ``_batch_tick``, once per turn of the loop,
        finds that no response was completed since its last look (the next app waits
        for something) or that the pipeline has ended, or past BATCH_BYTES. Whatever
        writes to the transport itself flushes the batch first: the order never changes.
        """
        self._batch = WriteBatch(self.responses)
        self.state.loop.call_soon(self._batch_tick)

    def _batch_tick(self) -> None:
        batch = self._batch
        if batch is None:
            return
        if batch.progressed(self.responses) and (
            self.cycle is not None or self.conn.has_pending_input
        ):
            self.state.loop.call_soon(self._batch_tick)
        else:
            self.flush()

    def flush(self) -> None:
        """Write the held responses, and stop holding them."""
        batch = self._batch
        if batch is not None:
            self._batch = None
            data = batch.joined()
            if data and not self.transport.is_closing():
                self.transport.write(data)

    def _close(self) -> None:
        """Close after what is written, in stages (``_linger``, RFC 9112 §9.6): input may
        be pending, and closing over unread input would reset the connection, destroying
        the responses the client has not read yet."""
        self.flush()
        transport = self.transport
        if self._lost or transport.is_closing():
            return
        self._detach()
        if self._peer_closed:
            transport.close()  # the client closed first: nothing of its is unread
        else:
            self.state.lingering.close(transport)

    # -- errors, deadlines, shutdown ----------------------------------------------------

    def app_failed(self, cycle: RequestCycle, message: str) -> None:
        """The app failed its request: a 500 if nothing was sent yet, access-logged like
        any response; else the connection is aborted (the response cannot be fixed)."""
        if cycle is not self.cycle:
            return  # the response is complete, or the client is gone
        if not self.conn.response_started:
            cycle.status = 500
            cycle.body_bytes_sent = self.send_error(500, message)
            self.state.log_access(self.conn.request, self.client, cycle)
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
        self._clear_deadline()
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
        """Called by the server's ticker: act on an expired deadline (see ``Deadline``)."""
        kind = self.deadline_kind
        if kind is _NO_DEADLINE or now < self.deadline:
            return
        if kind is _IDLE or (kind is _HEAD and not self.conn.buffered_size):
            self._clear_deadline()
            self._close()  # an idle connection: nothing to answer
        else:
            self.send_error(408, kind.value)  # HEAD or BODY: the 408's message

    def shutdown(self) -> None:
        """Server shutdown: close now if idle after a response, else after the response
        in flight, or after the request a new connection is about to send (its client
        connected to send one), given ``_FIRST_REQUEST_AT_SHUTDOWN`` to begin."""
        self.conn.close_after_response()
        if self.upgraded is not None:
            self.upgraded.shutdown()
        elif self.cycle is None and not self.conn.buffered_size:
            if self.responses:
                self._close()
            else:
                timeout = min(self.state.head_timeout, _FIRST_REQUEST_AT_SHUTDOWN)
                self._set_deadline(_HEAD, timeout)

    def _set_deadline(self, kind: Deadline, timeout: float) -> None:
        self.deadline_kind = kind
        self.deadline = self.state.loop.time() + timeout

    def _clear_deadline(self) -> None:
        self.deadline_kind = _NO_DEADLINE

    def _pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self._clear_deadline()
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
