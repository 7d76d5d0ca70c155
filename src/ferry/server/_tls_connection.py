"""TLS under HTTP: one ``TLSConnection`` per connection, the asyncio protocol of the
socket's transport and the transport of the connection's ``HTTPProtocol``, with an
``ssl.SSLObject`` over two memory BIOs between them. Call order, from the socket::

    connection_made -> [PROXY header] -> handshake -> records* -> eof? -> connection_lost

Why a layer of Ferry's own rather than asyncio's SSL transport (``create_server(ssl=)``
or ``loop.start_tls``): the bytes before the handshake are Ferry's to see. A PROXY
header (``--proxy-protocol``) comes in clear before the ClientHello, and a plain-HTTP
request sent to the TLS port is told so in clear (a 400, as nginx does) instead of
failing a handshake silently; ``start_tls`` cannot be given bytes already read. It is
also shorter: a request costs one ``SSLObject.read`` and a response one
``SSLObject.write`` and one BIO read, with no buffered-protocol machinery between.

What the HTTP side sees is a transport like any: ``write`` encrypts, flow control and
the write buffer are the socket transport's (its bytes are the encrypted ones, which is
what a slow reader holds up), ``get_extra_info`` answers ``sslcontext``, ``ssl_object``,
``peercert`` and ``cipher`` as asyncio's does (so file bodies go in pieces, see
``_sendfile.socket_access``). Failed handshakes are logged at debug level with the
reason; a handshake not done within ``--ssl-handshake-timeout`` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import typing
from typing import TYPE_CHECKING, Any, Final

from ._protocol import HTTPProtocol
from ._proxy_protocol import ProxyHeaderReader
from ._tls import tls_extension

if TYPE_CHECKING:
    from ._state import ServerState
    from ._tls import TLSSettings

__all__ = ["PLAIN_HTTP_MESSAGE", "TLSConnection"]

logger = logging.getLogger("ferry.error")

_READ_SIZE: Final = 262144  # the most plaintext taken from the SSLObject per read
_HANDSHAKE_RECORD: Final = 0x16  # RFC 8446 §5.1: ContentType handshake(22)
PLAIN_HTTP_MESSAGE: Final = "The plain HTTP request was sent to HTTPS port"  # nginx's words
_WantRead: Final = ssl.SSLWantReadError
_ZeroReturn: Final = ssl.SSLZeroReturnError
_SSLError: Final = ssl.SSLError


class TLSConnection(asyncio.Protocol, asyncio.Transport):
    """TLS for one connection: the socket's protocol, the HTTP protocol's transport."""

    __slots__ = (
        "_app",
        "_closing",
        "_handshaking",
        "_incoming",
        "_outgoing",
        "_pending",
        "_plain",
        "_preamble",
        "_raw",
        "_settings",
        "_sslobj",
        "_started",
        "_state",
        "_timer",
    )

    def __init__(self, state: ServerState, settings: TLSSettings) -> None:
        super().__init__()
        self._state = state
        self._settings = settings
        self._app = HTTPProtocol(state)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslobj = settings.context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._raw: asyncio.Transport = None  # type: ignore[assignment]
        self._handshaking = True
        self._started = False  # a first byte has come (after any PROXY header)
        self._plain = False  # it was plain HTTP: what HTTP writes goes out in clear
        self._closing = False
        self._pending: list[bytes] = []  # written by HTTP before the handshake ended
        self._preamble: ProxyHeaderReader | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- the socket's side (asyncio.Protocol) -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = typing.cast(asyncio.Transport, transport)
        state = self._state
        self._timer = state.loop.call_later(self._settings.handshake_timeout, self._too_slow)
        app = self._app
        app.connection_made(self)
        reader = app.upgraded
        if type(reader) is ProxyHeaderReader:
            # The PROXY header comes before the handshake, in clear: it is read here,
            # and what follows it is TLS.
            app.upgraded = None
            reader.then = self._after_preamble
            self._preamble = reader

    def data_received(self, data: bytes) -> None:
        if self._preamble is not None:
            self._preamble.data_received(data)
        else:
            self._receive(data)

    def eof_received(self) -> bool:
        if self._preamble is not None:
            self._preamble.eof_received()
            return True
        if self._handshaking:
            self._drop("the client closed during the TLS handshake")
            return True
        # A TCP FIN without close_notify (RFC 8446 §6.1): the end of input all the same;
        # a response the client still waits for can be written.
        return bool(self._app.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._app.connection_lost(exc)

    def pause_writing(self) -> None:
        self._app.pause_writing()

    def resume_writing(self) -> None:
        self._app.resume_writing()

    # -- bytes in -----------------------------------------------------------------------

    def _after_preamble(self, rest: bytes) -> None:
        self._preamble = None
        if rest:
            self._receive(rest)

    def _receive(self, data: bytes) -> None:
        if self._handshaking:
            if not self._started:
                self._started = True
                if data[0] != _HANDSHAKE_RECORD and 0x41 <= data[0] <= 0x5A:
                    self._refuse_plain()  # an upper-case letter: an HTTP method
                    return
            self._incoming.write(data)
            if not self._handshake():
                return
        else:
            self._incoming.write(data)
        self._read_records()

    def _handshake(self) -> bool:
        """Go on with the handshake; whether it is done (and what was read can be)."""
        try:
            self._sslobj.do_handshake()
        except _WantRead:
            self._flush()
            return False
        except (_SSLError, OSError) as exc:
            self._flush()  # the alert, if OpenSSL made one
            self._drop(f"TLS handshake failed: {_describe(exc)}")
            return False
        self._handshaking = False
        self._cancel_timer()
        self._flush()
        self._app.tls_extension = tls_extension(self._settings, self._sslobj)
        if self._pending:
            pending, self._pending = self._pending, []
            for data in pending:
                self.write(data)
        return True

    def _read_records(self) -> None:
        """Decrypt what has come whole and hand it to HTTP (then the client's
        close_notify as its EOF)."""
        sslobj = self._sslobj
        incoming = self._incoming
        chunks: list[bytes] = []
        closed = False
        try:
            while True:
                chunk = sslobj.read(_READ_SIZE)
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
                if not incoming.pending and not sslobj.pending():
                    break
        except _WantRead:
            pass
        except _ZeroReturn:
            closed = True
        except _SSLError as exc:
            self._drop(f"TLS error: {_describe(exc)}")
            return
        if self._outgoing.pending:
            self._flush()  # a reply of TLS's own (a KeyUpdate's)
        app = self._app
        if chunks:
            app.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if closed and not app.lost:
            app.eof_received()

    def _refuse_plain(self) -> None:
        """Plain HTTP on the TLS port: a 400 that says so, in clear, then the close."""
        self._plain = True
        self._cancel_timer()
        client = self._app.client
        logger.debug("plain HTTP on the TLS port from %s", client)
        self._app.send_error(400, PLAIN_HTTP_MESSAGE)

    def _too_slow(self) -> None:
        self._timer = None
        if self._handshaking and not self._closing:
            timeout = self._settings.handshake_timeout
            self._drop(f"TLS handshake not done within {timeout:g} s", abort=True)

    def _drop(self, reason: str, *, abort: bool = False) -> None:
        """End a connection that failed before HTTP: closed after the alert OpenSSL may
        have written, or ``abort``-ed (a client that stalls would not read it)."""
        logger.debug("connection from %s dropped: %s", _peer(self._app), reason)
        if abort:
            self.abort()
        else:
            self._closing = True
            self._cancel_timer()
            self._raw.close()

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    # -- bytes out: the HTTP protocol's transport (asyncio.Transport) -------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        if self._handshaking:
            if self._plain:
                self._raw.write(data)
            else:
                self._pending.append(bytes(data))
            return
        self._sslobj.write(data)
        self._raw.write(self._outgoing.read())

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._raw.write(data)

    def can_write_eof(self) -> bool:
        return False  # TLS has no half-close of its own (close_notify ends both ways)

    def write_eof(self) -> None:
        raise NotImplementedError("TLS connections cannot half-close")

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def close(self) -> None:
        """Say close_notify (RFC 8446 §6.1) after what is written, then close the
        socket: in stages (``_linger``) once HTTP has let go of the connection."""
        if self._closing:
            return
        self._closing = True
        self._cancel_timer()
        raw = self._raw
        if not self._handshaking:
            # The client's close_notify is not awaited (RFC 8446 §6.1 allows it).
            with contextlib.suppress(_SSLError, OSError):
                self._sslobj.unwrap()
            self._flush()
        if self._app.lost:
            self._state.lingering.close(raw)
        else:
            raw.close()

    def abort(self) -> None:
        self._closing = True
        self._cancel_timer()
        self._raw.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sslcontext":
            return self._settings.context
        if name == "ssl_object":
            return self._sslobj
        if name == "peercert":
            return self._sslobj.getpeercert()
        if name == "cipher":
            return self._sslobj.cipher()
        return self._raw.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._raw.get_write_buffer_limits()

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._app

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        raise NotImplementedError("a TLS connection keeps its HTTP protocol")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _peer(app: HTTPProtocol) -> str:
    client = app.client
    return f"{client[0]}:{client[1]}" if client else "a UNIX socket"
