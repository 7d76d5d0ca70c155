"""One asyncio.Protocol per connection: the asyncio callbacks, and the one driver of the
engine's server role. Call order (asyncio's)::

    connection_made -> data_received* -> eof_received? -> connection_lost

It feeds the engine (``ServerConnection``), runs each request's ASGI cycle, and turns the
neutral calls of the cycle (``asgi._cycle.HTTPChannel``) and of a WebSocket session
(``websocket.WebSocketChannel``) into the engine's sending verbs: nothing else calls
them. Homes of their own: file sending (``_sendfile``), the batching of pipelined
responses (``_batch``), the kinds of deadline (``_deadline``), the minimum data rates
(``_rates``). Protocol errors become responses in exactly one place: ``send_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
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
from ._proxy_protocol import ProxyHeaderReader
from ._rates import BodyRate, SendTimer
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
# During shutdown, how long an idle connection gets for a request (at most head_timeout):
# a new one likely carries one on its way (a client connected to send it), and a
# keep-alive one may have its next request in the kernel's buffer or on the wire (sent
# as the last response arrived), which closing at once would lose to a client that does
# not retry. But a browser's speculative or idle connection may never send, and would
# hold shutdown.
_REQUEST_AT_SHUTDOWN: Final = 1.0
# The deadline kinds, bound once (statics of this module for the compiled accelerator).
_NO_DEADLINE: Final = Deadline.NONE
_HEAD: Final = Deadline.HEAD
_IDLE: Final = Deadline.IDLE
_BODY: Final = Deadline.BODY
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets
_BODY_TOO_SLOW: Final = "request body slower than the minimum rate"  # its 408's message


class HTTPProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one connection."""

    __slots__ = (
        "_batch",
        "_body_rate",
        "_drain_waiter",
        "_files",
        "_head_start",
        "_lost",
        "_peer_closed",
        "_read_paused",
        "_send_timer",
        "_write_paused",
        "client",
        "conn",
        "cycle",
        "deadline",
        "deadline_kind",
        "forwarding",
        "request_client",
        "responses",
        "server",
        "state",
        "tls_extension",
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
        # Where the bytes go instead of the HTTP engine: the WebSocket this connection
        # became, or, before any HTTP, the reader of a PROXY header (--proxy-protocol).
        self.upgraded: WebSocketSession | ProxyHeaderReader | None = None
        self.client: tuple[str, int] | None = None
        # (host, port), or (path, None) for UNIX: a tuple the compiled code keeps as is.
        self.server: tuple[Any, ...] | None = None
        self.forwarding = False  # the peer is trusted: its proxy headers are read
        # Over TLS (_tls_connection), once the handshake is done: the ASGI tls extension
        # of every scope of the connection (one dict, made once).
        self.tls_extension: dict[str, Any] | None = None
        # The client of the request in flight: the peer, or the one its proxy names.
        self.request_client: tuple[str, int] | None = None
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
        # Minimum data rates (see _rates): made only once a body is awaited, or once
        # writing pauses; None for every request that needs neither.
        self._body_rate: BodyRate | None = None
        self._send_timer: SendTimer | None = None

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport = typing.cast(asyncio.Transport, transport)
        state = self.state
        state.connections.add(self)
        if state.metrics is not None:
            state.metrics.connection_opened()
        self.client, self.server = state.addresses(transport)
        self.forwarding = state.trusts_peer(self.client)
        if state.proxy_protocol:
            if not state.allows_proxy_header(self.client):
                logger.debug("PROXY header refused from %s: not trusted", self.client)
                self.transport.abort()
                return
            self.upgraded = ProxyHeaderReader(self)
        if len(state.connections) > state.config.max_connections:
            self.send_error(503, "too many connections")
            return
        if state.shutting_down:
            # Accepted from the backlog at shutdown (Server._take_backlog), or just before
            # the listener closed: serve the request it may carry, and say the connection
            # ends with it.
            self.conn.close_after_response()
            self._set_deadline(_HEAD, min(state.head_timeout, _REQUEST_AT_SHUTDOWN))
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
            self.state.upgrade_ended(self.upgraded)

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
        # The server now waits on the client: bytes are held for it (the transport's,
        # whoever wrote them: a body, a file's piece, TLS records). Upgraded connections
        # are not timed (as Kestrel's rates, which leave them unlimited).
        if self.state.min_send_rate.enabled and self.upgraded is None:
            timer = self._send_timer
            if timer is None:
                timer = self._send_timer = SendTimer(self.state.min_send_rate)
            timer.start(self.state.loop.time(), self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        self._write_paused = False
        timer = self._send_timer
        if timer is not None:
            timer.stop()
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
        if state.draining:
            conn.close_after_response()  # --shutdown-delay: each response says it ends
        bodiless = conn.end_bodiless_request()
        ready_path = state.ready_path
        if (
            ready_path is not None
            and request.path == ready_path
            and self._answer_readiness(request, head_end)
        ):
            return
        if bodiless and state.respond_now is not None and self._respond_now(request, head_end):
            return
        self.request_client = self.client
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
        if self.tls_extension is not None:
            scope["extensions"]["tls"] = self.tls_extension
        if self.forwarding and _names_a_proxy_field(request.headers):
            self._apply_forwarding(request, scope)
        cycle = self.cycle = RequestCycle(scope, self, head_end)
        if bodiless:
            cycle.feed_end()
        else:
            self._body_rate = None  # a body's rate is its own (the one before may be unread)
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
        self.request_client = self.client
        if self.forwarding and _names_a_proxy_field(request.headers):
            self._apply_forwarding(request, None)
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

    def _answer_readiness(self, request: Request, head_end: float) -> bool:
        """``--ready-path``: 200 while serving, 503 once draining; the app never sees it.
        False for a method other than GET and HEAD (the app gets those)."""
        if request.method not in (b"GET", b"HEAD"):
            return False
        self.request_client = self.client
        cycle = self.cycle = RequestCycle(self.state.scope_templates.get(request), self, head_end)
        cycle.feed_end()
        draining = self.state.draining or self.state.shutting_down
        status, body = (503, b"draining\n") if draining else (200, b"ready\n")
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Cache-Control", b"no-store")]
        cycle.respond(status, headers, body)
        return True

    def _apply_forwarding(self, request: Request, scope: dict[str, Any] | None) -> None:
        """The client and scheme the trusted proxy's headers name, into the request's
        ``scope`` (and ``request_client``, for the access log)."""
        forwarding = self.state.proxied(request)
        if forwarding is None:
            return
        if forwarding.names_client:
            self.request_client = forwarding.client
            if scope is not None:
                scope["client"] = forwarding.client
        if forwarding.scheme is not None and scope is not None:
            scope["scheme"] = forwarding.scheme

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
        tls = self.tls_extension
        client, scheme = self.client, "ws" if tls is None else "wss"
        if (
            self.forwarding
            and _names_a_proxy_field(request.headers)
            and (forwarding := state.proxied(request)) is not None
        ):
            if forwarding.names_client:
                client = forwarding.client
            if forwarding.scheme is not None:
                scheme = "wss" if forwarding.scheme == "https" else "ws"
        addresses = client, self.server
        self.upgraded = state.run_websocket(
            websocket, self, request, addresses, head_end, scheme, tls
        )

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
                rate = self._body_rate
                if rate is not None:
                    rate.received(len(event.data))
                metrics = self.state.metrics
                if metrics is not None:
                    metrics.body_received(len(event.data))
                cycle.feed_body(event.data)
            elif type(event) is EndOfMessage:
                cycle.feed_end()
                self._clear_deadline()
                self._body_rate = None
                return
            else:  # NEED_DATA
                if cycle.queued >= _BODY_HIGH_WATER:
                    self._pause_reading()  # the app reads slower than the client sends
                elif cycle.body_wanted:
                    self._await_body()
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
            self._await_body()

    def body_consumed(self) -> None:
        if self._read_paused and self.cycle is not None:
            self._resume_reading()
            if self.conn.their_state is State.SEND_BODY:
                self._await_body()
                self._pump_body()

    def _await_body(self) -> None:
        """The app waits for body bytes that only the client can send: the body
        deadline (inactivity) runs, and so does the time of the body's rate."""
        state = self.state
        now = state.loop.time()
        self.deadline_kind = _BODY
        self.deadline = now + state.body_timeout
        minimum = state.min_body_rate
        if minimum.enabled:
            rate = self._body_rate
            if rate is None:
                rate = self._body_rate = BodyRate(minimum)
            rate.start(now)

    def response_complete(self, cycle: RequestCycle) -> None:
        """The response is on the wire: log it, then close or go on to the next request.

        Whether to keep the connection is the engine's decision (``keep_alive``)."""
        if cycle is not self.cycle:
            return
        self.cycle = None
        self.responses += 1
        state = self.state
        conn = self.conn
        state.responses += 1
        if state.responses == state.recycle_at:
            state.recycle()  # a worker's max_requests: it is to be replaced
        if state.access_log:
            state.log_access(conn.request, self.request_client, cycle)
        metrics = state.metrics
        if metrics is not None:
            first = self.responses == 1
            metrics.exchange(
                conn.request, cycle.status, cycle.body_bytes_sent, cycle.start_time, first
            )
        if not conn.keep_alive:
            self._close()
            return
        conn.start_next_cycle()
        if state.shutting_down:
            # The head went out saying the connection stays, before shutdown began: the
            # client may be sending its next request already. Answer that one, saying
            # the connection ends with it (see shutdown).
            conn.close_after_response()
            self._set_deadline(_HEAD, min(state.head_timeout, _REQUEST_AT_SHUTDOWN))
        else:
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
            self.state.log_access(self.conn.request, self.request_client, cycle)
            metrics = self.state.metrics
            if metrics is not None:
                first = self.responses == 0
                metrics.exchange(
                    self.conn.request, 500, cycle.body_bytes_sent, cycle.start_time, first
                )
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
        if self.state.metrics is not None:
            self.state.metrics.protocol_error(status)
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
        """Called by the server's ticker: act on an expired deadline (see ``Deadline``),
        or on a minimum data rate not met (see ``_rates``)."""
        timer = self._send_timer
        if timer is not None and timer.expired(now):
            self._send_too_slow(timer, now)
            return
        kind = self.deadline_kind
        if kind is _NO_DEADLINE:
            return
        if now < self.deadline:
            rate = self._body_rate
            if kind is _BODY and rate is not None and rate.too_slow(now):
                self.send_error(408, _BODY_TOO_SLOW)
            return
        if kind is _IDLE or (kind is _HEAD and not self.conn.buffered_size):
            self._clear_deadline()
            self._close()  # an idle connection: nothing to answer
        else:
            self.send_error(408, kind.value)  # HEAD or BODY: the 408's message

    def _send_too_slow(self, timer: SendTimer, now: float) -> None:
        """The client took the bytes held for it slower than the minimum send rate:
        abort (nothing can be said to a client that does not read), and say so."""
        client = self.client
        who = f"{client[0]}:{client[1]}" if client is not None else "a UNIX socket client"
        held = self.transport.get_write_buffer_size()
        logger.info(
            "connection from %s aborted, reading too slowly: %s", who, timer.describe(now, held)
        )
        self._send_timer = None
        self._batch = None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # A reset, not a FIN: closed with bytes still queued, the kernel would go on
            # feeding the slow reader what it holds (megabytes, on loopback) from an
            # orphaned socket. nginx's reset_timedout_connection does the same.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self.transport.abort()

    def shutdown(self) -> None:
        """Server shutdown: close after the response in flight; an idle connection
        (new, or kept alive after a response) after the request it may be about to
        receive, given ``_REQUEST_AT_SHUTDOWN`` to begin, answered with
        ``Connection: close``. A response whose head has gone out saying the connection
        stays is followed by one more request (``response_complete``): a client that
        does not retry would lose the one it sends as that response arrives."""
        conn = self.conn
        if not conn.response_started:
            conn.close_after_response()
        if self.upgraded is not None:
            self.upgraded.shutdown()
        elif self.cycle is None and not conn.buffered_size:
            self._set_deadline(_HEAD, min(self.state.head_timeout, _REQUEST_AT_SHUTDOWN))

    def _set_deadline(self, kind: Deadline, timeout: float) -> None:
        self.deadline_kind = kind
        self.deadline = self.state.loop.time() + timeout

    def _clear_deadline(self) -> None:
        self.deadline_kind = _NO_DEADLINE

    def _pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self._clear_deadline()
            rate = self._body_rate
            if rate is not None:  # the app has not taken what came: not the client's time
                rate.stop(self.state.loop.time())
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


def _names_a_proxy_field(headers: Fields) -> bool:
    """Whether a request carries a field the proxy in front may have set: the check
    that keeps the parsing of them (``ferry.proxy``) off the path of every request that
    has none, from a trusted peer too (the default trusts 127.0.0.1)."""
    for field in headers:
        name = field[0]  # indexed: cheaper, compiled, than unpacking a sequence
        size = len(name)  # and a length than a comparison of bytes
        if (size == 15 or size == 9 or size == 17) and (
            name == b"x-forwarded-for" or name == b"forwarded" or name == b"x-forwarded-proto"
        ):
            return True
    return False
