"""The listening sockets, made before any worker exists: bound and listening on
``host:port``, on ``--uds PATH``, taken over from ``--fd N``, or handed over by systemd's
socket activation (``LISTEN_FDS``/``LISTEN_PID``, sd_listen_fds(3)).

A process that binds its sockets here can hand them to worker processes (they inherit
them across ``fork``), and keeps them across the restart of every worker. Binding fails
with ``OSError`` (the port is taken, the path cannot be made); a descriptor that is no
listening stream socket is a ``ConfigError``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import MutableMapping

from .._errors import ConfigError
from ._config import Config

__all__ = ["SD_LISTEN_FDS_START", "bind_sockets", "inherited_socket", "systemd_sockets"]

SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): the first descriptor systemd passes


def bind_sockets(config: Config) -> list[socket.socket]:
    """The sockets ``config`` asks for, in this order of choice: systemd's (when it
    started this process with sockets), ``fd``, ``uds``, ``host`` and ``port`` (every
    address the host resolves to, as asyncio's ``create_server`` binds them)."""
    activated = systemd_sockets()
    if activated:
        return activated
    if config.fd is not None:
        return [inherited_socket(config.fd, "--fd")]
    if config.uds is not None:
        return [_bind_unix(config.uds, config.backlog)]
    return _bind_tcp(config.host, config.port, config.backlog)


def systemd_sockets(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets systemd passed to this process, or ``[]``. As sd_listen_fds(3) with
    ``unset_environment``: only when ``LISTEN_PID`` is this process (the variables are
    inherited, the descriptors meant for one process), and the variables are removed so
    that no child takes them for its own."""
    environ = os.environ if environ is None else environ
    pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if pid is None or count is None or pid.strip() != str(os.getpid()):
        return []
    if not count.strip().isdigit():
        raise ConfigError(f"LISTEN_FDS is not a number of sockets: {count!r}")
    numbers = range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(count))
    sockets = [inherited_socket(number, "LISTEN_FDS") for number in numbers]
    for sock in sockets:
        sock.set_inheritable(False)  # FD_CLOEXEC, as sd_listen_fds sets it
    return sockets


def inherited_socket(fd: int, source: str) -> socket.socket:
    """The listening stream socket on descriptor ``fd`` (its family is read from it).
    Raises ConfigError naming ``source`` if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"{source}: descriptor {fd} is not a socket ({exc.strerror})") from None
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:  # pragma: no cover - every listening socket of Linux and BSD answers
        listening = 1
    if sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()  # the descriptor stays the caller's
        raise ConfigError(f"{source}: descriptor {fd} is not a listening stream socket")
    return sock


def _bind_unix(path: str, backlog: int) -> socket.socket:
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_tcp(host: str, port: int, backlog: int) -> list[socket.socket]:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio: each family its own socket, not a v6 one taking v4 too.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _remove_stale_socket(path: str) -> None:
    """Remove a UNIX socket left by an earlier run (never a regular file)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
