"""The blocking network layer of the blocking client (hand-written; the same names as
``_async/_backend.py``, over plain sockets).

Every OSError is turned into the client's exceptions here, at the edge.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from ..._errors import ConnectError, ConnectTimeout, NetworkError, ReadTimeout, WriteTimeout
from .._tls import describe_handshake

__all__ = ["PoolCondition", "Stream", "connect"]

Trace = Callable[[str, bytes], None]
"""Called with each step of an exchange as it ends, and the bytes it concerns (the
request and response heads, and for ``tls`` the handshake's ``describe_handshake``);
docs/client.md lists the steps."""


class Stream:
    """A connected socket. Not safe for two readers (or writers) at once."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._time_limit = sock.gettimeout()

    def _set_time_limit(self, time_limit: float | None) -> None:
        # settimeout() is a system call (ioctl FIONBIO) each time: only when it changes.
        if time_limit != self._time_limit:
            self._sock.settimeout(time_limit)
            self._time_limit = time_limit

    def read(self, time_limit: float | None) -> bytes:
        """Some bytes (waiting for them); b"" once the peer closed.
        Raises ReadTimeout, NetworkError."""
        try:
            self._set_time_limit(time_limit)
            return self._sock.recv(65536)
        except TimeoutError:
            raise ReadTimeout(f"no response bytes within {time_limit} s") from None
        except OSError as exc:
            raise NetworkError(f"connection lost: {exc}") from exc

    def write(self, data: bytes, time_limit: float | None) -> None:
        """Send ``data``. Raises WriteTimeout, NetworkError."""
        try:
            self._set_time_limit(time_limit)
            self._sock.sendall(data)
        except TimeoutError:
            raise WriteTimeout(f"request not sent within {time_limit} s") from None
        except OSError as exc:
            raise NetworkError(f"connection lost: {exc}") from exc

    def close(self) -> None:
        """Close the connection at once."""
        self._sock.close()

    def wait_closed(self) -> None:
        """``close()`` takes effect at once here (the async twin has to wait)."""

    def is_readable(self) -> bool:
        """Whether bytes or an EOF arrived: on an idle connection, a sign it is dead."""
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):  # closed
            return True
        return bool(readable)

    def poll_readable(self) -> bool:
        """``is_readable``: the socket is asked directly (the async twin has to let its
        event loop run first)."""
        return self.is_readable()

    def start_tls(self, ssl_context: ssl.SSLContext, host: str, time_limit: float | None) -> None:
        """Handshake TLS over this stream (a proxy's tunnel), naming ``host``.
        Raises ConnectTimeout, ConnectError."""
        try:
            self._set_time_limit(time_limit)
            self._sock = ssl_context.wrap_socket(self._sock, server_hostname=host)
        except TimeoutError:
            raise ConnectTimeout(f"no TLS with {host} within {time_limit} s") from None
        except OSError as exc:  # SSLError too
            raise ConnectError(f"cannot start TLS with {host}: {exc}") from exc

    def handshake(self) -> bytes:
        """The TLS handshake's version, cipher and ALPN protocol (``describe_handshake``);
        for a stream after ``start_tls``."""
        assert isinstance(self._sock, ssl.SSLSocket)
        return describe_handshake(self._sock)


def connect(
    host: str,
    port: int,
    *,
    time_limit: float | None,
    ssl_context: ssl.SSLContext | None,
    uds: str | None = None,
    trace: Trace | None = None,
) -> Stream:
    """Resolve, connect and (with ``ssl_context``) handshake, all within ``time_limit``.
    ``uds``: connect to this UNIX socket instead (the host still names the TLS peer).
    Raises ConnectTimeout, ConnectError."""
    deadline = None if time_limit is None else time.monotonic() + time_limit
    try:
        sock = _open_socket(host, port, uds, deadline, trace)
        try:
            if ssl_context is not None:
                sock.settimeout(_left(deadline))
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
                if trace is not None:
                    trace("tls", describe_handshake(sock))
        except BaseException:
            sock.close()
            raise
    except TimeoutError:
        raise ConnectTimeout(f"no connection to {host}:{port} within {time_limit} s") from None
    except OSError as exc:  # gaierror, refused, certificate errors (SSLError)
        raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
    return Stream(sock)


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _open_socket(
    host: str, port: int, uds: str | None, deadline: float | None, trace: Trace | None
) -> socket.socket:
    addresses: list[tuple[int, Any]]
    if uds is not None:
        addresses = [(socket.AF_UNIX, uds)]
    else:
        # getaddrinfo has no timeout of its own: the deadline applies from here on.
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [(family, address) for family, _, _, _, address in infos]
    if trace is not None:
        trace("dns", b"")
    error: OSError | None = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_left(deadline))
            sock.connect(address)
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            error = exc
            continue
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if trace is not None:
            trace("connect", b"")
        return sock
    raise error or OSError(f"no address for {host}")


class PoolCondition:
    """The pool's lock and wake-up call (a threading.Condition)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()

    def __enter__(self) -> None:
        self._condition.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._condition.release()

    def wait(self, time_limit: float | None) -> bool:
        """Wait (holding the lock) for ``notify_all``; False when ``time_limit`` passed."""
        return self._condition.wait(time_limit)

    def notify_all(self) -> None:
        self._condition.notify_all()
