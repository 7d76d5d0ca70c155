"""A raw socket server on 127.0.0.1 that answers one connection with fixed bytes.

It stands in for a broken (or odd) HTTP server: the client under test sees exactly the
bytes given, then either an EOF or a connection held open until the client closes it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType


class RawServer:
    """Accept connections; to each, after the request head, write ``response`` and then
    half-close (``eof=True``) or keep the connection open until the client closes it."""

    def __init__(self, response: bytes, *, eof: bool = True, connections: int = 1) -> None:
        self.response = response
        self.eof = eof
        self.connections = connections
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        for _ in range(self.connections):
            try:
                sock, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            with sock:
                self._answer(sock)

    def _answer(self, sock: socket.socket) -> None:
        received = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in received:
                data = sock.recv(65536)
                if not data:
                    return
                received += data
            self.requests.append(received)
            sock.sendall(self.response)
            if self.eof:
                sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # until the client closes
                pass


Handler = Callable[[socket.socket, int], None]


class ScriptedServer:
    """Accept connections on 127.0.0.1 and run ``handler(sock, index)`` on each, in turn,
    in one thread (``index`` counts connections from 0). ``tls`` wraps each socket."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.accepted = 0
        self.error: BaseException | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        self._listener.close()
        self._thread.join(timeout=5)
        if self.error is not None:
            raise self.error

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            index, self.accepted = self.accepted, self.accepted + 1
            try:
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                with sock:
                    self.handler(sock, index)
            except (ssl.SSLError, ConnectionError):
                pass  # a client that refused our certificate, or went away
            except BaseException as exc:
                self.error = exc


def read_head(sock: socket.socket) -> bytes:
    """Read up to the end of a request head ("" if the peer closed first)."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        if not data:
            return received
        received += data
    return received


def wait_closed(sock: socket.socket) -> None:
    """Block until the peer closes its side (or resets)."""
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass
