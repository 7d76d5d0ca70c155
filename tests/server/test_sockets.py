"""The listening sockets bound before any worker exists: TCP, UNIX, an inherited
descriptor, and systemd's socket activation (LISTEN_FDS/LISTEN_PID), on real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry import Config, ConfigError
from ferry.server._sockets import bind_sockets, inherited_socket, systemd_sockets


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    with sock:
        yield sock


def accepts(sock: socket.socket) -> bool:
    """Whether a client can connect to ``sock`` and be accepted on it."""
    with socket.create_connection(sock.getsockname()[:2], timeout=5) as client:
        peer, _ = sock.accept()
        with peer:
            client.sendall(b"x")
            return peer.recv(1) == b"x"


def test_tcp_on_an_address_and_a_free_port() -> None:
    sockets = bind_sockets(Config(host="127.0.0.1", port=0, backlog=7))
    assert len(sockets) == 1
    with sockets[0] as sock:
        assert sock.family == socket.AF_INET
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        assert accepts(sock)


def test_tcp_on_a_taken_port_is_an_os_error(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(OSError, match="Address already in use"):
        bind_sockets(Config(host="127.0.0.1", port=port))


def test_unix_socket_replacing_a_stale_one(tmp_path: Path) -> None:
    path = str(tmp_path / "ferry.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the path stays behind, as after a crash
    [sock] = bind_sockets(Config(uds=path))
    with sock:
        assert sock.family == socket.AF_UNIX
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            peer, _ = sock.accept()
            peer.close()


def test_unix_socket_never_replaces_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("keep me")
    with pytest.raises(OSError, match="Address already in use"):
        bind_sockets(Config(uds=str(path)))
    assert path.read_text() == "keep me"


def test_an_inherited_descriptor(listener: socket.socket) -> None:
    fd = os.dup(listener.fileno())
    [sock] = bind_sockets(Config(fd=fd))
    with sock:
        assert sock.fileno() == fd
        assert sock.family == socket.AF_INET
        assert accepts(sock)


def test_a_descriptor_that_is_no_listening_socket_is_named(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        with pytest.raises(ConfigError, match=f"--fd: descriptor {read} is not a socket"):
            inherited_socket(read, "--fd")
    finally:
        os.close(write)
    with socket.socket() as unbound:
        with pytest.raises(ConfigError, match="is not a listening stream socket"):
            inherited_socket(unbound.fileno(), "--fd")
        assert unbound.fileno() >= 0  # still the caller's, still open
    datagram = socket.socket(type=socket.SOCK_DGRAM)
    with datagram, pytest.raises(ConfigError, match="is not a listening stream socket"):
        inherited_socket(datagram.fileno(), "LISTEN_FDS")
    os.close(read)
    with pytest.raises(ConfigError, match=f"descriptor {read} is not a socket"):
        inherited_socket(read, "--fd")


def test_systemd_variables_for_another_process_are_ignored_and_removed() -> None:
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b", "HOME": "/"}
    assert systemd_sockets(environ) == []
    assert environ == {"HOME": "/"}
    assert systemd_sockets({}) == []


def test_a_malformed_listen_fds_is_a_config_error() -> None:
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "two"}
    with pytest.raises(ConfigError, match="LISTEN_FDS is not a number of sockets: 'two'"):
        systemd_sockets(environ)


CHILD = """
import json, os, socket
from ferry import Config
from ferry.server._sockets import bind_sockets
socks = bind_sockets(Config(port=1))  # the port is never bound: systemd's sockets win
print(json.dumps({
    "fds": [s.fileno() for s in socks],
    "families": [s.family.name for s in socks],
    "inheritable": [s.get_inheritable() for s in socks],
    "left": [k for k in os.environ if k.startswith("LISTEN_")],
}))
"""


def test_systemd_socket_activation_in_a_real_process(
    tmp_path: Path, listener: socket.socket
) -> None:
    """As systemd starts a service: descriptors from 3 on, LISTEN_PID the service's own
    pid (bash's ``$$``, kept by ``exec``; dash takes no descriptor above 9)."""
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "s.sock"))
    unix.listen()
    with unix:
        tcp_fd, unix_fd = listener.fileno(), unix.fileno()
        script = (
            f'LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=web:admin exec "$0" -c "$1" '
            f"3<&{tcp_fd} 4<&{unix_fd}"
        )
        result = subprocess.run(
            ["/bin/bash", "-c", script, sys.executable, CHILD],
            pass_fds=(tcp_fd, unix_fd),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    assert json.loads(result.stdout) == {
        "fds": [3, 4],
        "families": ["AF_INET", "AF_UNIX"],
        "inheritable": [False, False],
        "left": [],
    }
