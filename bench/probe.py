"""A minimal blocking HTTP/1.1 client: one GET, one response, connection left open.

Only what the harness needs to check a server's answer and to hold idle keep-alive
connections: the response must carry `Content-Length` (the hello app and every file
response set it). Over TLS too, given a client context (the https scenarios).
"""

import socket
import ssl
from dataclasses import dataclass

HOST = "127.0.0.1"
HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 16 * 1024


class ProbeError(Exception):
    """The server's answer was missing, malformed, or not the one expected."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


def request_bytes(port: int, path: str = "/") -> bytes:
    """Return a keep-alive `GET path` request for the server listening on `port`."""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode("ascii")


def connect(port: int, timeout_s: float, tls: ssl.SSLContext | None = None) -> socket.socket:
    """Open a TCP connection to the server, with a TLS handshake given a context; raises
    `OSError` when it is refused (`ssl.SSLError`, an OSError, when the handshake fails)."""
    sock = socket.create_connection((HOST, port), timeout=timeout_s)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=HOST)
    except BaseException:
        sock.close()
        raise


def get(sock: socket.socket, port: int, path: str = "/") -> Response:
    """Send one `GET path` on `sock` and read its response, leaving the connection open.

    Raises `ProbeError` if the server closes early or answers without Content-Length,
    and `OSError` (including `TimeoutError`) on socket failures.
    """
    sock.sendall(request_bytes(port, path))
    return read_response(sock)


def read_response(sock: socket.socket) -> Response:
    """Read exactly one response (head and Content-Length body) from `sock`."""
    buffer = bytearray()
    while (head_end := buffer.find(HEAD_END)) < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise ProbeError("response head larger than 16 KiB")
        _receive_into(sock, buffer)
    status, length = _parse_head(bytes(buffer[:head_end]))
    body_start = head_end + len(HEAD_END)
    while len(buffer) < body_start + length:
        _receive_into(sock, buffer)
    return Response(status, bytes(buffer[body_start : body_start + length]))


def _receive_into(sock: socket.socket, buffer: bytearray) -> None:
    chunk = sock.recv(65536)
    if not chunk:
        raise ProbeError("server closed the connection before a full response")
    buffer += chunk


def _parse_head(head: bytes) -> tuple[int, int]:
    """Return (status, content length) from a response head without its blank line."""
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProbeError(f"malformed status line {status_line!r}")
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(parts[1]), int(value.strip())
    raise ProbeError("response has no Content-Length header")
