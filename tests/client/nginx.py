"""nginx (Debian's nginx-light) started on 127.0.0.1 for the client's tests and bench.

Each response carries ``X-Connection: <connection number> <requests on it>`` (nginx's
``$connection`` and ``$connection_requests``), so a test sees which connection served it.
Paths: ``/hello`` (5 bytes), ``/gzip/*`` (gzip, hence chunked), ``/chunked/*`` (a
sub_filter drops the length, hence chunked), ``/echo`` (the request target, Authorization,
User-Agent and Accept, split by "|"), ``/redirect2`` -> ``/redirect`` -> ``/hello``,
``/latin1/*`` (``charset=iso-8859-1``), ``/small`` (413 past 1 KiB of body), the rest
from ``root``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# What every configuration of these tests starts with: one process in the foreground,
# its files in the test's folder. A template's "http {{" block follows it.
PREAMBLE = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 1024; }}
"""
TEMP_PATHS = """\
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
"""

CONFIG = (
    PREAMBLE
    + """\
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
"""
    + TEMP_PATHS
    + """\
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        add_header X-Connection "$connection $connection_requests" always;
        location = /hello {{ return 200 "hello"; }}
        location /gzip/ {{ gzip on; gzip_min_length 0; gzip_types text/plain; }}
        location /chunked/ {{
            sub_filter "x" "y";
            sub_filter_once off;
            sub_filter_types text/plain;
        }}
        location = /echo {{
            return 200 "$request_uri|$http_authorization|$http_user_agent|$http_accept";
        }}
        location = /redirect {{ return 302 /hello; }}
        location = /redirect2 {{ return 301 /redirect; }}
        location /latin1/ {{ charset iso-8859-1; }}
        location = /small {{ client_max_body_size 1k; return 200 "taken"; }}
    }}
}}
"""
)


def nginx_executable() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class Nginx:
    def __init__(self, port: int, root: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.root = root
        self.process = process
        self.log: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_nginx(folder: Path, template: str = CONFIG, **fields: object) -> Iterator[Nginx]:
    """Start nginx with ``template`` (the config above unless given; formatted with
    ``dir``, ``port`` and ``fields``) in ``folder``; stop it on leaving. Ready on entry:
    nginx logs its OS status after it opened its listening socket, so the port accepts
    (connections queue) from the moment that line is read."""
    executable = nginx_executable()
    assert executable is not None, "nginx is not installed (.ci/run installs nginx-light)"
    port = _free_port()
    (folder / "www").mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(template.format(dir=folder, port=port, **fields))
    command = [executable, "-c", str(conf), "-p", str(folder), "-e", "stderr"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    server = Nginx(port, folder / "www", process)
    # Keep reading its log so that nginx never blocks on a full pipe.
    drain = threading.Thread(target=_drain, args=(process, server.log), daemon=True)
    try:
        while b"getrlimit" not in (line := process.stderr.readline()):
            if not line:
                raise RuntimeError("nginx did not start:\n" + "".join(server.log))
            server.log.append(line.decode(errors="replace"))
        drain.start()
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        if drain.is_alive():
            drain.join(timeout=10)  # the pipe ends with the process
        process.stderr.close()


def _drain(process: subprocess.Popen[bytes], log: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        log.append(line.decode(errors="replace"))
