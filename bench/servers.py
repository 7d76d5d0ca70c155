"""The servers under test: their command lines, and starting and stopping them.

Every server runs `bench.apps:hello` on 127.0.0.1, pinned to core 0 with `taskset`
(which execs the server, so the PID we hold is the server's own), from the repository
root so that `bench.apps` is importable. Its output goes to a log file in a scratch
directory; the last lines of that log are shown when it fails.

The static scenarios have servers of their own (`static_servers`): Ferry's
`ferry serve DIR` on each loop, and nginx with `root DIR`, all serving the directory
`static_site` wrote. (uvicorn and granian have no file server of their own.) The
`wsgi` scenario's servers (`WSGI_SERVERS`) run `bench.apps:wsgi_hello`: Ferry, gunicorn
with its sync and gthread workers, granian's WSGI interface. The `websocket` scenario's
(`WEBSOCKET_SERVERS`) run `bench.apps:ws_echo`: Ferry and uvicorn. The https scenarios'
(`https_servers`) are the same servers over TLS, all with the run's one certificate
(bench/certificate.py): uvicorn and Ferry with uvicorn's `--ssl-certfile` and
`--ssl-keyfile`, nginx with `listen ... ssl`.
"""

import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import probe
import static_site
from certificate import Certificate

REPO_ROOT = Path(__file__).resolve().parent.parent
FERRY_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
BENCH_BIN = REPO_ROOT / ".venv-bench" / "bin"
APP = "bench.apps:hello"
WSGI_APP = "bench.apps:wsgi_hello"
WS_APP = "bench.apps:ws_echo"
WSGI_THREADS = "10"  # Ferry's --threads and gunicorn gthread's --threads
HOST = probe.HOST
SERVER_CORE = "0"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 15

CommandBuilder = Callable[[int, Path], list[str]]


class ServerError(Exception):
    """A server did not start, did not answer correctly, or died during a run."""


@dataclass(frozen=True)
class ServerSpec:
    """A server under test: its name and how to build its command line.

    `build_command(port, scratch)` returns the argv (without `taskset`); it may write
    configuration files into `scratch`, a directory private to this run of the server.
    `measure_memory` selects the server for the idle-connection memory scenario, which
    reads one process's RSS and so only suits single-process servers. `cpus` are the
    cores it is pinned to (the workers scenario's share both). Before the load,
    `GET probe_path` must answer the 13-byte hello body (over TLS, trusting `tls`'s
    certificate, when the server serves https). `family` is the `--only` name that
    selects it (its own name unless set: `ferry-asyncio` is a `ferry`).
    """

    name: str
    build_command: CommandBuilder
    measure_memory: bool = False
    probe_path: str = "/"
    family: str | None = None
    cpus: str = "0"  # taskset's list: SERVER_CORE, or "0,1" for the multi-process servers
    tls: Certificate | None = None

    @property
    def selected_by(self) -> str:
        return self.family or self.name


@dataclass(frozen=True)
class RunningServer:
    name: str
    pid: int
    port: int
    command: list[str]
    handshake: str | None = None  # what the readiness check negotiated, over TLS


def ferry_command(
    port: int, scratch: Path, app: str = APP, tls: Certificate | None = None
) -> list[str]:
    return [
        *(str(FERRY_PYTHON), "-m", "ferry", "serve", app),
        *("--host", HOST, "--port", str(port)),
        *("--no-access-log", "--loop", "uvloop", *tls_options(tls)),
    ]


def tls_options(tls: Certificate | None) -> list[str]:
    """uvicorn's TLS options, which Ferry's follow: the certificate and its key."""
    return [] if tls is None else ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]


def ferry_wsgi_command(port: int, scratch: Path) -> list[str]:
    return [
        *ferry_command(port, scratch, WSGI_APP),
        *("--interface", "wsgi", "--threads", WSGI_THREADS),
    ]


def uvicorn_command(
    port: int, scratch: Path, app: str = APP, tls: Certificate | None = None
) -> list[str]:
    return [
        *(str(BENCH_BIN / "uvicorn"), app, "--host", HOST, "--port", str(port)),
        *("--http", "httptools", "--loop", "uvloop"),
        *("--no-access-log", "--log-level", "warning", *tls_options(tls)),
    ]


def uvicorn_ws_command(port: int, scratch: Path) -> list[str]:
    return [*uvicorn_command(port, scratch, WS_APP), "--ws", "websockets"]


def gunicorn_command(worker: str, port: int, scratch: Path) -> list[str]:
    # One worker process (the master only supervises it); no access log by default.
    # The sync worker closes every connection after its response: it has no keep-alive.
    threads = ["--threads", WSGI_THREADS] if worker == "gthread" else []
    return [
        *(str(BENCH_BIN / "gunicorn"), "-w", "1", "-k", worker, *threads),
        *("--bind", f"{HOST}:{port}", "--log-level", "warning", WSGI_APP),
    ]


def granian_wsgi_command(port: int, scratch: Path) -> list[str]:
    # The single-threaded runtime of granian_command, on the WSGI interface.
    return [
        *(str(BENCH_BIN / "granian"), "--interface", "wsgi"),
        *("--host", HOST, "--port", str(port), "--http", "1"),
        *("--workers", "1", "--runtime-mode", "st", "--runtime-threads", "1"),
        *("--no-ws", "--log-level", "warning", WSGI_APP),
    ]


def granian_command(port: int, scratch: Path) -> list[str]:
    # One worker with a single-threaded Rust runtime, so that core 0 is all it uses;
    # HTTP/1 only, like the others (no HTTP/2 preface sniffing).
    return [
        *(str(BENCH_BIN / "granian"), "--interface", "asgi"),
        *("--host", HOST, "--port", str(port), "--http", "1"),
        *("--workers", "1", "--runtime-mode", "st", "--runtime-threads", "1"),
        *("--loop", "uvloop", "--no-ws", "--log-level", "warning", APP),
    ]


def nginx_command(port: int, scratch: Path, tls: Certificate | None = None) -> list[str]:
    config = scratch / "nginx.conf"
    config.write_text(nginx_config(port, tls))
    # `-e stderr`: the error log before the config is read (else /var/log/nginx).
    return [nginx_executable(), "-e", "stderr", "-p", str(scratch), "-c", str(config)]


def nginx_config(port: int, tls: Certificate | None = None) -> str:
    """Return an nginx configuration serving the hello body on `port` (over TLS with
    `tls`'s certificate, when given).

    `keepalive_requests` is raised from nginx's default of 1,000 because the other
    servers never close a busy keep-alive connection; reconnecting would skew the run.
    Temporary paths are relative to the `-p` prefix, so nothing is written elsewhere.
    """
    return _nginx_frame(
        f"""    server {{
{nginx_listen(port, tls)}
        location / {{
            default_type text/plain;
            return 200 "Hello, world!";
        }}
    }}
"""
    )


def ferry_static_command(
    site: Path, loop: str, port: int, scratch: Path, tls: Certificate | None = None
) -> list[str]:
    return [
        *(str(FERRY_PYTHON), "-m", "ferry", "serve", str(site)),
        *("--host", HOST, "--port", str(port)),
        *("--no-access-log", "--loop", loop, *tls_options(tls)),
    ]


def nginx_static_command(
    site: Path, port: int, scratch: Path, tls: Certificate | None = None
) -> list[str]:
    config = scratch / "nginx.conf"
    config.write_text(nginx_static_config(site, port, tls))
    return [nginx_executable(), "-e", "stderr", "-p", str(scratch), "-c", str(config)]


def nginx_static_config(site: Path, port: int, tls: Certificate | None = None) -> str:
    """Return an nginx configuration serving `site` on `port`: nginx's own sendfile path
    (`sendfile on`, with `tcp_nopush` so the head and the file's first bytes share a
    packet), the same media types Ferry sends, and the settings of `nginx_config`. Over
    TLS (`tls`) sendfile has no effect: nginx reads the file and encrypts it (kernel TLS
    is off unless configured), as Ferry does."""
    return _nginx_frame(
        f"""    sendfile on;
    tcp_nopush on;
    types {{ text/plain txt; application/octet-stream bin; }}
    charset utf-8;
    charset_types text/plain;
    server {{
{nginx_listen(port, tls)}
        root {site};
    }}
"""
    )


def nginx_listen(port: int, tls: Certificate | None) -> str:
    """The `listen` directive of a benchmark nginx, with `ssl` and the certificate for
    `tls`: TLS 1.2 and 1.3 as Ferry and Python's ssl default to (nginx 1.22 still allows
    1.0 and 1.1), its other TLS settings left at nginx's defaults."""
    if tls is None:
        return f"        listen {HOST}:{port};"
    return (
        f"        listen {HOST}:{port} ssl;\n"
        f"        ssl_certificate {tls.cert};\n"
        f"        ssl_certificate_key {tls.key};\n"
        "        ssl_protocols TLSv1.2 TLSv1.3;"
    )


def _nginx_frame(http_block: str) -> str:
    """The settings every benchmark nginx shares, around ``http_block`` (the rest of its
    ``http`` block): one worker, logs off, temporary paths under the ``-p`` prefix, and
    ``keepalive_requests`` raised from nginx's default of 1,000 because the other servers
    never close a busy keep-alive connection."""
    return (
        """daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    keepalive_requests 1000000;
"""
        + http_block
        + "}\n"
    )


def nginx_executable() -> str:
    """Return nginx's path; it lives in /usr/sbin, which a user's PATH may lack."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=search_path) or "nginx"


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("ferry", ferry_command, measure_memory=True),
        ServerSpec("uvicorn", uvicorn_command, measure_memory=True),
        ServerSpec("granian", granian_command),
        ServerSpec("nginx", nginx_command),
    )
}


WSGI_SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("ferry", ferry_wsgi_command),
        ServerSpec("gunicorn-sync", partial(gunicorn_command, "sync")),
        ServerSpec("gunicorn-gthread", partial(gunicorn_command, "gthread")),
        ServerSpec("granian", granian_wsgi_command),
    )
}

WEBSOCKET_SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("ferry", partial(ferry_command, app=WS_APP)),
        ServerSpec("uvicorn", uvicorn_ws_command),
    )
}

BOTH_CORES = "0,1"
WORKERS = "2"


def ferry_workers_command(workers: str, port: int, scratch: Path) -> list[str]:
    return [*ferry_command(port, scratch), "--workers", workers]


def uvicorn_workers_command(port: int, scratch: Path) -> list[str]:
    return [*uvicorn_command(port, scratch), "--workers", WORKERS]


def gunicorn_uvicorn_command(port: int, scratch: Path) -> list[str]:
    # uvicorn's worker class for gunicorn (the uvicorn-worker package), as deployed.
    return [
        *(str(BENCH_BIN / "gunicorn"), "-w", WORKERS, "-k", "uvicorn_worker.UvicornWorker"),
        *("--bind", f"{HOST}:{port}", "--log-level", "warning", APP),
    ]


def granian_workers_command(port: int, scratch: Path) -> list[str]:
    command = granian_command(port, scratch)
    command[command.index("--workers") + 1] = WORKERS
    return command


# The workers scenario: every server with 2 worker processes, sharing both cores with
# wrk; "ferry-1" is Ferry with one worker under the same conditions (its scaling).
WORKER_SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("ferry", partial(ferry_workers_command, WORKERS), cpus=BOTH_CORES),
        ServerSpec("ferry-1", partial(ferry_workers_command, "1"), cpus=BOTH_CORES, family="ferry"),
        ServerSpec("uvicorn", uvicorn_workers_command, cpus=BOTH_CORES),
        ServerSpec(
            "gunicorn-uvicorn", gunicorn_uvicorn_command, cpus=BOTH_CORES, family="gunicorn"
        ),
        ServerSpec("granian", granian_workers_command, cpus=BOTH_CORES),
    )
}

# Every name `--only` accepts: the hello servers, then those only some scenarios have.
# The metrics scenario: the cost of --metrics-port (0: any free port), Ferry against itself.
METRICS_SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("ferry", ferry_command),
        ServerSpec(
            "ferry-metrics",
            lambda port, scratch: [*ferry_command(port, scratch), "--metrics-port", "0"],
            family="ferry",
        ),
    )
}

SERVER_NAMES = tuple(
    dict.fromkeys(
        [
            *SERVERS,
            *WSGI_SERVERS,
            *WEBSOCKET_SERVERS,
            *METRICS_SERVERS,
            *(spec.selected_by for spec in WORKER_SERVERS.values()),
        ]
    )
)


def static_servers(site: Path) -> dict[str, ServerSpec]:
    """The servers of the static scenarios, all serving `site` (see `static_site`)."""
    specs = (
        ServerSpec(
            "ferry",
            partial(ferry_static_command, site, "uvloop"),
            probe_path=static_site.SMALL_PATH,
        ),
        # Ferry calls os.sendfile on the socket itself on either loop
        # (server/_sendfile.py). Both loops are measured.
        ServerSpec(
            "ferry-asyncio",
            partial(ferry_static_command, site, "asyncio"),
            probe_path=static_site.SMALL_PATH,
            family="ferry",
        ),
        ServerSpec("nginx", partial(nginx_static_command, site), probe_path=static_site.SMALL_PATH),
    )
    return {spec.name: spec for spec in specs}


def https_servers(scenario: str, site: Path, tls: Certificate) -> dict[str, ServerSpec]:
    """The servers of an https scenario, all presenting `tls`: `https-hello` Ferry and
    uvicorn (the target), `https-handshakes` those and nginx, `https-static-large`
    Ferry on each loop and nginx serving `site`."""
    if scenario == "https-static-large":
        path = static_site.SMALL_PATH
        specs = [
            ServerSpec(
                name,
                partial(ferry_static_command, site, loop, tls=tls),
                probe_path=path,
                family="ferry",
                tls=tls,
            )
            for name, loop in (("ferry", "uvloop"), ("ferry-asyncio", "asyncio"))
        ]
        static_nginx = partial(nginx_static_command, site, tls=tls)
        specs.append(ServerSpec("nginx", static_nginx, probe_path=path, tls=tls))
        return {spec.name: spec for spec in specs}
    specs = [
        ServerSpec("ferry", partial(ferry_command, tls=tls), tls=tls),
        ServerSpec("uvicorn", partial(uvicorn_command, tls=tls), tls=tls),
    ]
    if scenario == "https-handshakes":
        specs.append(ServerSpec("nginx", partial(nginx_command, tls=tls), tls=tls))
    return {spec.name: spec for spec in specs}


@contextmanager
def running(spec: ServerSpec, scratch: Path) -> Iterator[RunningServer]:
    """Start `spec` pinned to its cores, yield it once it serves the hello body, stop it.

    Raises `ServerError` (with the tail of the server's log) if it exits, does not
    accept connections within START_TIMEOUT_S, or answers with anything but the body.
    """
    scratch.mkdir(parents=True)
    (scratch / "tmp").mkdir()
    port = free_port()
    command = ["taskset", "-c", spec.cpus, *spec.build_command(port, scratch)]
    log_path = scratch / "server.log"
    with log_path.open("wb") as log:
        process = _spawn(command, log)
    try:
        try:
            wait_until_accepting(process, port)
            handshake = check_hello(port, spec.probe_path, spec.tls)
        except (ServerError, OSError, probe.ProbeError) as exc:
            details = f"    $ {shlex.join(command)}\n{log_tail(log_path)}"
            raise ServerError(f"{exc}\n{details}") from exc
        yield RunningServer(spec.name, process.pid, port, command, handshake)
        if process.poll() is not None:
            raise ServerError(f"exited with status {process.returncode} during the run")
    finally:
        stop(process)


def _spawn(command: list[str], log: BinaryIO) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to kill workers if it hangs
        )
    except OSError as exc:
        raise ServerError(f"cannot run {shlex.join(command)}: {exc}") from exc


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_accepting(process: subprocess.Popen[bytes], port: int) -> None:
    """Poll-connect to `port` until it accepts, the process exits, or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"exited with status {process.returncode} before listening")
        try:
            with probe.connect(port, timeout_s=1.0):
                return
        except OSError:
            time.sleep(0.05)  # poll interval, not a guess at the start-up time
    raise ServerError(f"no connection accepted on port {port} within {START_TIMEOUT_S:.0f} s")


def check_hello(port: int, path: str = "/", tls: Certificate | None = None) -> str | None:
    """Raise `ServerError` unless `GET path` answers 200 with exactly `Hello, world!`
    (over TLS, verifying `tls`'s certificate, when given). Return what that handshake
    negotiated ("TLSv1.3 TLS_AES_256_GCM_SHA384 http/1.1"), or None without TLS."""
    context = None if tls is None else tls.client_context()
    if context is not None:
        context.set_alpn_protocols(["http/1.1"])  # as browsers offer it (with h2)
    with probe.connect(port, START_TIMEOUT_S, context) as sock:
        response = probe.get(sock, port, path)
        handshake = _handshake(sock)
    if response.status != 200 or response.body != b"Hello, world!":
        raise ServerError(f"GET {path} answered {response.status} {response.body[:40]!r}")
    return handshake


def _handshake(sock: socket.socket) -> str | None:
    if not isinstance(sock, ssl.SSLSocket):
        return None
    cipher = sock.cipher()
    parts = (sock.version(), cipher[0] if cipher else None, sock.selected_alpn_protocol())
    return " ".join(part or "-" for part in parts)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server and wait; SIGKILL its process group if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def log_tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(f"    | {line}" for line in lines) or "    | (no output)"
