"""Ferry behind a real HAProxy (Debian's ``haproxy``, installed by ``.ci/run``): with
``option forwardfor`` (X-Forwarded-For) and with ``send-proxy-v2`` (the PROXY protocol),
the application sees the client HAProxy saw, and a client cannot make it see another.

HAProxy reaches Ferry from 127.0.0.2 (``source``), the one address Ferry trusts; the
test's client connects from 127.0.0.1, an address like any other on the internet here.
The configuration is the one docs/deployment.md quotes.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ..support import read_until_close, serving
from ._helpers import free_port
from .test_proxy_protocol import echo

CONFIG = """\
global
    maxconn 200
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend with_proxy_protocol
    bind 127.0.0.1:{pp_front}
    default_backend ferry_pp
frontend with_forwardfor
    bind 127.0.0.1:{xff_front}
    option forwardfor
    # Set, never passed on: a client's own X-Forwarded-Proto would be believed.
    http-request set-header X-Forwarded-Proto http
    default_backend ferry_xff
backend ferry_pp
    server ferry 127.0.0.1:{pp_ferry} send-proxy-v2 source 127.0.0.2
backend ferry_xff
    server ferry 127.0.0.1:{xff_ferry} source 127.0.0.2
"""

TRUSTED = {"forwarded_allow_ips": "127.0.0.2", "lifespan": "off"}


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("haproxy is not installed (.ci/run installs Debian's haproxy)")
    return found


@contextmanager
def haproxy(tmp_path: Path, **ports: int) -> Iterator[dict[str, int]]:
    fronts = {"pp_front": free_port(), "xff_front": free_port()}
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(**fronts, **ports))
    process = subprocess.Popen(
        [haproxy_binary(), "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        for port in fronts.values():
            while True:
                if process.poll() is not None:
                    raise RuntimeError(process.communicate()[1].decode())
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)  # polling a port with a deadline, not a sync
        yield fronts
    finally:
        process.terminate()
        process.communicate(timeout=10)


def through(port: int, *fields: str) -> tuple[Any, tuple[str, int]]:
    """A request through HAProxy: (what the app saw, this client's own address)."""
    head = "".join(f"{field}\r\n" for field in fields)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}\r\n".encode())
        data = read_until_close(sock)
        own = sock.getsockname()
    status, _, rest = data.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK", data
    return json.loads(rest.partition(b"\r\n\r\n")[2]), own


def test_behind_haproxy_the_app_sees_the_client_haproxy_saw(tmp_path: Path) -> None:
    with (
        serving(echo, proxy_protocol=True, **TRUSTED) as pp,
        serving(echo, **TRUSTED) as xff,
        haproxy(tmp_path, pp_ferry=pp.port, xff_ferry=xff.port) as fronts,
    ):
        # PROXY v2: the client's address and port, exactly.
        seen, own = through(fronts["pp_front"])
        assert seen["client"] == [own[0], own[1]]
        assert seen["server"] == ["127.0.0.1", fronts["pp_front"]]
        # X-Forwarded-For: the client's address (no port in that header).
        seen, own = through(fronts["xff_front"])
        assert seen["client"] == [own[0], 0]


def test_a_client_behind_haproxy_cannot_name_itself(tmp_path: Path) -> None:
    spoofs = (
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Proto: https",
        "Forwarded: for=6.6.6.6;proto=https",
    )
    with (
        serving(echo, proxy_protocol=True, **TRUSTED) as pp,
        serving(echo, **TRUSTED) as xff,
        haproxy(tmp_path, pp_ferry=pp.port, xff_ferry=xff.port) as fronts,
    ):
        seen, own = through(fronts["xff_front"], *spoofs[:2])
        assert seen["client"] == [own[0], 0]  # HAProxy's entry, not the client's
        assert seen["scheme"] == "http"
        # A Forwarded HAProxy did not write contradicts its X-Forwarded-For: neither is
        # believed, and the app sees HAProxy itself, never the name the client chose.
        seen, own = through(fronts["xff_front"], *spoofs)
        assert seen["client"][0] == "127.0.0.2"
        seen, own = through(fronts["pp_front"], *spoofs)
        # Behind PROXY alone the fields are the client's own writing (HAProxy wrote
        # none): the client the PROXY header names is not trusted, so neither are they.
        assert seen["client"] == [own[0], own[1]]
        # Straight to Ferry, not through HAProxy: a PROXY header from an untrusted peer.
        with socket.create_connection(("127.0.0.1", pp.port), timeout=10) as sock:
            sock.sendall(b"PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_until_close(sock) == b""
