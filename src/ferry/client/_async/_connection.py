"""One HTTP/1.1 connection of the client: the engine's client role over a stream."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

from ..._errors import ConnectError, NetworkError, ReadTimeout, RemoteProtocolError
from ...http1 import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    Sentinel,
    State,
)
from ...http1 import Response as ResponseHead
from .._limits import StepTimeouts
from .._models import Proxy, Timeouts
from ._backend import AsyncStream, Trace, connect

__all__ = ["EXPECT_WAIT", "WHOLE_BODY", "AsyncHTTPConnection", "StaleConnection"]

EXPECT_WAIT = 1.0
"""Seconds to wait for ``100 Continue`` before sending the body anyway (curl waits 1 s)."""
WHOLE_BODY = 65536
"""A body up to this size is sent with the head in one write; a larger one in blocks of
this size, with a look for an early response (a 413) between two blocks."""


class StaleConnection(NetworkError):
    """The server closed (or reset) the connection before any byte of a response: the
    case RFC 9112 §9.3.1 lets a client retry an idempotent request."""


class AsyncHTTPConnection:
    """A stream and the engine state of the exchange on it.

    Call order: ``send_request``, ``receive_head``, ``receive_data`` until None, then
    ``start_next_cycle`` (if ``reusable``) or ``close``.
    """

    def __init__(
        self, stream: AsyncStream, origin: tuple[str, str, int], proxy: Proxy | None = None
    ) -> None:
        self.stream = stream
        self.origin = origin
        self.proxy = proxy
        """The proxy the connection goes to (None: straight to the origin)."""
        self.engine = ClientConnection()
        self.reused = False
        """Whether an earlier exchange completed on this connection."""
        self.expires_at = 0.0
        """When an idle connection must be retired (time.monotonic)."""
        self.closed = False
        self._response_started = False  # a byte of the current response arrived
        self._early_response: ResponseHead | None = None  # came before the request body

    @classmethod
    async def open(
        cls,
        origin: tuple[str, str, int],
        timeouts: StepTimeouts,
        ssl_context: ssl.SSLContext | None,
        uds: str | None,
        trace: Trace | None,
        proxy: Proxy | None = None,
    ) -> AsyncHTTPConnection:
        """Connect to ``origin`` (with TLS given an ``ssl_context``), or to the ``proxy``:
        for TLS through a CONNECT tunnel. Each step (connecting, the tunnel, TLS) has
        ``timeouts.connect``. Raises ConnectError, ConnectTimeout, NetworkError,
        ReadTimeout, RemoteProtocolError."""
        _, host, port = origin
        if proxy is None:
            stream = await connect(
                host,
                port,
                time_limit=timeouts.connect,
                ssl_context=ssl_context,
                uds=uds,
                trace=trace,
            )
            return cls(stream, origin)
        stream = await connect(
            proxy.host, proxy.port, time_limit=timeouts.connect, ssl_context=None, trace=trace
        )
        if ssl_context is not None:
            try:
                await _open_tunnel(stream, origin, proxy, timeouts)
                await stream.start_tls(ssl_context, host, timeouts.connect)
            except BaseException:
                stream.close()
                await stream.wait_closed()
                raise
            if trace is not None:
                trace("tls", stream.handshake())
        return cls(stream, origin, proxy)

    async def send_request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes | None,
        pieces: AsyncIterator[bytes] | None,
        timeouts: StepTimeouts,
        trace: Trace | None,
        *,
        expect_continue: bool = False,
    ) -> None:
        """Send the head and the body: ``body`` whole, or ``pieces`` (then chunked unless
        ``headers`` give a Content-Length, as they must for a ``body`` of more than
        ``WHOLE_BODY`` bytes). With ``expect_continue`` (``headers`` carry ``Expect:
        100-continue``) the body waits for the server's go-ahead. A final response that
        arrives before the body was all sent stops the sending (RFC 9112 §9.5): it is the
        one ``receive_head`` returns, and the connection is not reused. Raises
        StaleConnection for a reused connection the server has closed, NetworkError,
        WriteTimeout, LocalProtocolError."""
        engine = self.engine
        if pieces is None and not expect_continue and (body is None or len(body) <= WHOLE_BODY):
            data = engine.send_request(method, target, headers, body=body, end=True)
            try:  # (_write, without its coroutine: this is every small request's path)
                await self.stream.write(data, timeouts.write)
            except NetworkError as exc:
                if self.reused:
                    raise StaleConnection(str(exc)) from exc
                raise
            if trace is not None:
                trace("request_sent", data)
            return
        head = engine.send_request(method, target, headers)
        await self._write(head, timeouts)
        if trace is not None:
            trace("head_sent", head)
        if expect_continue and await self._final_response_first(timeouts, trace):
            return
        if await self._send_body(_blocks(body or b"") if pieces is None else pieces, timeouts):
            return
        await self._write(engine.send_end(), timeouts)
        if trace is not None:
            trace("body_sent", b"")

    async def _send_body(self, pieces: AsyncIterator[bytes], timeouts: StepTimeouts) -> bool:
        """Send the body's pieces; True if a final response came first (and stopped it).
        Before each piece, bytes from the server are read without waiting; after a write
        fails, what the server sent before it closed is read: a server that refuses a
        body (413) often closes at once, and its answer must not be lost."""
        engine = self.engine
        async for piece in pieces:
            if not piece:
                continue
            if await self.stream.poll_readable() and await self._response_while_sending(timeouts):
                return True
            try:
                await self._write(engine.send_data(piece), timeouts)
            except NetworkError:
                if await self._response_while_sending(timeouts, wait=True):
                    return True
                raise
        return False

    async def _response_while_sending(self, timeouts: StepTimeouts, *, wait: bool = False) -> bool:
        """Read what the server sent so far (``wait``: until its final response head, its
        EOF or the read timeout); True if that is a final response head (then kept for
        ``receive_head``)."""
        engine = self.engine
        while True:
            event = engine.next_event()
            if type(event) is ResponseHead:
                self._early_response = event
                return True
            if event is not NEED_DATA and type(event) is not InformationalResponse:
                return False  # the EOF (ConnectionClosed) before a response
            if event is NEED_DATA:
                if not wait and not self.stream.is_readable():
                    return False
                try:
                    data = await self.stream.read(timeouts.read)
                except (NetworkError, ReadTimeout):
                    return False
                self._response_started = self._response_started or bool(data)
                if data:
                    engine.receive_data(data)
                else:
                    engine.receive_eof()

    async def _final_response_first(self, timeouts: StepTimeouts, trace: Trace | None) -> bool:
        """Wait for ``100 Continue``; True if the final response came instead (the body is
        then not sent, and the connection not reused). RFC 9110 §10.1.1: a client SHOULD
        NOT wait indefinitely for it, since the server may ignore the expectation: after
        ``EXPECT_WAIT`` seconds the body goes anyway."""
        wait = Timeouts(
            read=EXPECT_WAIT if timeouts.read is None else min(timeouts.read, EXPECT_WAIT)
        )
        while True:
            try:
                event = await self._next_event(wait, trace)
            except ReadTimeout:
                return False
            if type(event) is ResponseHead:
                self._early_response = event
                return True
            if type(event) is ConnectionClosed:
                raise StaleConnection("the server closed the connection before responding")
            assert type(event) is InformationalResponse, event
            if event.status == 100:
                return False

    async def _write(self, data: bytes, timeouts: StepTimeouts) -> None:
        try:
            await self.stream.write(data, timeouts.write)
        except NetworkError as exc:
            if self.reused:
                raise StaleConnection(str(exc)) from exc
            raise

    async def receive_head(self, timeouts: StepTimeouts, trace: Trace | None) -> ResponseHead:
        """The final response head (1xx heads are skipped). Raises StaleConnection,
        RemoteProtocolError, NetworkError, ReadTimeout."""
        early, self._early_response = self._early_response, None
        if early is not None:
            return early
        while True:
            event = await self._next_event(timeouts, trace)
            if type(event) is ResponseHead:
                if trace is not None:
                    trace("head_received", self.engine.response_head_bytes)
                return event
            if type(event) is ConnectionClosed:
                raise StaleConnection("the server closed the connection before responding")
            assert type(event) is InformationalResponse, event

    async def receive_data(self, timeouts: StepTimeouts) -> bytes | None:
        """The next piece of the response body; None at its end."""
        event = await self._next_event(timeouts)
        if type(event) is Data:
            return event.data
        assert type(event) is EndOfMessage, event
        return None

    def receive_ready(self) -> bytes | Sentinel | None:
        """``receive_data`` without waiting: the next piece if the bytes received hold it
        (None at the body's end), else NEED_DATA."""
        event = self.engine.next_event()
        if type(event) is Data:
            return event.data
        if type(event) is EndOfMessage:
            return None
        assert event is NEED_DATA, event
        return NEED_DATA

    async def _next_event(self, timeouts: StepTimeouts, trace: Trace | None = None) -> Event:
        engine = self.engine
        while True:
            event = engine.next_event()
            if event is not NEED_DATA:
                assert not isinstance(event, Sentinel), event
                return event
            try:
                data = await self.stream.read(timeouts.read)
            except NetworkError as exc:
                # A reset before any response byte is the stale case too (RFC 9112 §9.3.1).
                if self.reused and not self._response_started:
                    raise StaleConnection(str(exc)) from exc
                raise
            if data:
                if trace is not None and not self._response_started:
                    trace("first_byte", b"")
                self._response_started = True
                engine.receive_data(data)
            else:
                engine.receive_eof()

    @property
    def reusable(self) -> bool:
        """Whether both messages completed and the connection may carry another."""
        engine = self.engine
        return (
            not self.closed
            and engine.keep_alive
            and engine.our_state is State.DONE
            and engine.their_state is State.DONE
        )

    def start_next_cycle(self) -> None:
        self.engine.start_next_cycle()
        self.reused = True
        self._response_started = False

    def is_dead(self, now: float) -> bool:
        """Whether an idle connection expired, or the server closed (or wrote to) it."""
        return now >= self.expires_at or self.stream.is_readable()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stream.close()

    async def wait_closed(self) -> None:
        await self.stream.wait_closed()


async def _open_tunnel(
    stream: AsyncStream, origin: tuple[str, str, int], proxy: Proxy, timeouts: StepTimeouts
) -> None:
    """Ask the proxy for a tunnel to ``origin`` (RFC 9110 §9.3.6: CONNECT with the
    authority-form target, RFC 9112 §3.2.3); return once it answered 2xx."""
    _, host, port = origin
    authority = (f"[{host}]" if ":" in host else host).encode("ascii") + b":%d" % port
    engine = ClientConnection()
    headers = [(b"Host", authority), *proxy.headers]
    request = engine.send_request(b"CONNECT", authority, headers, end=True)
    await stream.write(request, timeouts.write)
    while (event := engine.next_event()) is NEED_DATA or type(event) is InformationalResponse:
        if event is NEED_DATA:
            data = await stream.read(timeouts.connect)
            if data:
                engine.receive_data(data)
            else:
                engine.receive_eof()
    if type(event) is not ResponseHead:
        raise ConnectError("the proxy closed the connection before answering CONNECT")
    if not 200 <= event.status < 300:
        answer = f"{event.status} {event.reason.decode('latin-1')}"
        raise ConnectError(f"the proxy refused a tunnel to {authority.decode()}: {answer}")
    if engine.trailing_data:
        # The origin speaks only after our TLS ClientHello: these bytes are the proxy's.
        raise RemoteProtocolError("the proxy sent bytes after its answer to CONNECT")


async def _blocks(body: bytes) -> AsyncIterator[bytes]:
    """A body in memory, in ``WHOLE_BODY`` blocks."""
    for start in range(0, len(body), WHOLE_BODY):
        yield body[start : start + WHOLE_BODY]
