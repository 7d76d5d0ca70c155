"""Ferry behind a real nginx (Debian's nginx-light), configured as docs/deployment.md
says: the app sees the client nginx saw, and the client cannot name another address or
scheme. nginx reaches Ferry from 127.0.0.2 (``proxy_bind``), the one address Ferry
trusts; the test's client connects from 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..support import serving
from ._helpers import free_port
from .test_haproxy import TRUSTED, through
from .test_proxy_protocol import echo

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{ferry};
            proxy_bind 127.0.0.2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@contextmanager
def nginx_in_front(folder: Path, ferry_port: int) -> Iterator[int]:
    executable = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if executable is None:
        pytest.fail("nginx is not installed (.ci/run installs Debian's nginx-light)")
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(CONFIG.format(dir=folder, port=port, ferry=ferry_port))
    command = [executable, "-c", str(conf), "-p", str(folder), "-e", "stderr"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    log: list[bytes] = []
    try:
        # nginx logs its OS limits once its listening socket is open: the port accepts.
        while b"getrlimit" not in (line := process.stderr.readline()):
            if not line:
                raise RuntimeError(b"".join(log).decode())
            log.append(line)
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


def test_behind_nginx_the_app_sees_the_client_nginx_saw(tmp_path: Path) -> None:
    with serving(echo, **TRUSTED) as ferry, nginx_in_front(tmp_path, ferry.port) as port:
        seen, own = through(port)
        assert seen["client"] == [own[0], 0]
        assert seen["scheme"] == "http"
        spoofs = ("X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https")
        seen, own = through(port, *spoofs)
        assert seen["client"] == [own[0], 0]  # nginx's entry, right of the client's own
        assert seen["scheme"] == "http"  # set by nginx, not passed on
