"""Restarts under load, and how connections reach workers: the scenarios that count
failed requests rather than requests per second.

  restart    a rolling restart of 3 instances behind HAProxy, which is configured not to
             retry (`retries 0`, no `option redispatch`), as a Kubernetes Service does
             not: each instance in turn gets SIGTERM, is started again once it has
             exited, and the next waits until HAProxy's health check sees it up. wrk
             loads HAProxy all along. Ferry with `--shutdown-delay 2 --ready-path
             /readyz` (HAProxy's `option httpchk` asks /readyz) next to Ferry without
             them and uvicorn (whose check asks /, the hello app).
  sighup     SIGHUP to a server with 2 workers under wrk's load: Ferry's rolling restart,
             uvicorn's (`--workers 2`) and gunicorn's (uvicorn's worker class).
  reuseport  one socket all workers inherit (Ferry's `--workers 2`) against one
             SO_REUSEPORT socket per process (two `ferry serve --fd N` on sockets the
             harness binds with SO_REUSEPORT on one port): requests/s under wrk, then
             one process stopped with SIGSTOP (as a hung worker is) and 200 new
             connections each sending a request: how many get no answer within 2 s.

A failed request is one wrk counts as a socket error (connect, read, write, timeout) or
a non-2xx/3xx response. All servers run the hello app (bench/apps.py) on 127.0.0.1,
sharing both cores with wrk and HAProxy; every wait has a deadline.
"""

import contextlib
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import loadgen
import probe
import servers

INSTANCES = 3
LOAD_S = 30  # wrk's run; the restart must end within it
START_AFTER_S = 2.0  # load before the first signal
STEP_TIMEOUT_S = 30.0
STRANDED_CONNECTIONS = 200
STRANDED_WAIT_S = 2.0
HAPROXY_CHECK = "inter 200ms fastinter 100ms downinter 200ms fall 1 rise 1"
FAILURES_TARGET = 0
LOAD = loadgen.LoadProfile(
    "restart", "keep-alive, 32 connections", connections=32, cpus="0,1", threads=1
)


@dataclass(frozen=True)
class RestartResult:
    """One server in the restart or sighup scenario: wrk's counts over the whole run."""

    scenario: str
    server: str
    requests: int = 0
    failed: int = 0
    restart_seconds: float | None = None  # from the first signal to the last replacement
    error: str | None = None


@dataclass(frozen=True)
class ReuseportResult:
    """One way of sharing connections: requests/s (2 processes), and connections that
    got no answer while one process was stopped."""

    server: str
    requests_per_s: float | None = None
    unanswered: int | None = None
    error: str | None = None


# -- commands -------------------------------------------------------------------------


def ferry_instance(port: int, drain: bool) -> list[str]:
    command = servers.ferry_command(port, Path())
    if drain:
        command += ["--shutdown-delay", "2", "--ready-path", "/readyz"]
    return command


def uvicorn_instance(port: int, drain: bool) -> list[str]:
    return servers.uvicorn_command(port, Path())


INSTANCE_SERVERS: dict[str, tuple[Callable[[int, bool], list[str]], bool]] = {
    "ferry": (ferry_instance, True),
    "ferry-no-drain": (ferry_instance, False),
    "uvicorn": (uvicorn_instance, False),
}
SIGHUP_SERVERS = {
    name: servers.WORKER_SERVERS[name] for name in ("ferry", "uvicorn", "gunicorn-uvicorn")
}


# -- the rolling restart behind HAProxy -----------------------------------------------


def haproxy_config(front: int, backends: list[int], check_path: str, stats: Path) -> str:
    lines = [
        "global",
        f"    stats socket {stats} mode 600 level admin",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    # No second try on another server: a failed request reaches the client.",
        "    retries 0",
        "frontend front",
        f"    bind {probe.HOST}:{front}",
        "    default_backend instances",
        "backend instances",
        "    balance roundrobin",
        f"    option httpchk GET {check_path}",
        "    http-check expect status 200",
        f"    default-server {HAPROXY_CHECK}",
    ]
    lines += [f"    server s{i} {probe.HOST}:{port} check" for i, port in enumerate(backends)]
    return "\n".join(lines) + "\n"


def haproxy_states(stats: Path) -> dict[str, str]:
    """Server name -> status ("UP", "DOWN", ...) from HAProxy's stats socket."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2.0)
        sock.connect(str(stats))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, *rows = data.decode().splitlines()
    names = header.lstrip("# ").split(",")
    states = {}
    for row in rows:
        fields = dict(zip(names, row.split(","), strict=False))
        if fields.get("pxname") == "instances" and fields.get("svname", "").startswith("s"):
            states[fields["svname"]] = fields.get("status", "")
    return states


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return
        time.sleep(0.05)  # poll interval, not a guess at how long it takes
    raise servers.ServerError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def spawn(command: list[str], log: Path, **options: object) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            command,
            cwd=servers.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **options,
        )


def answers(port: int) -> bool:
    try:
        servers.check_hello(port)
    except (OSError, probe.ProbeError, servers.ServerError):
        return False
    return True


@contextlib.contextmanager
def wrk_running(port: int, scratch: Path) -> Iterator[Callable[[], loadgen.LoadResult]]:
    """Start wrk against `port` for LOAD_S seconds; yield a function that waits for its
    report. wrk is killed if the block exits early."""
    command = loadgen.wrk_command(LOAD, port, LOAD_S)
    with (scratch / "wrk.txt").open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)

    def report() -> loadgen.LoadResult:
        process.wait(timeout=LOAD_S + loadgen.EXIT_GRACE_S)
        return loadgen.parse_wrk_report((scratch / "wrk.txt").read_text(), shlex.join(command))

    try:
        yield report
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def rolling_restart(name: str, scratch: Path) -> RestartResult:
    build, drain = INSTANCE_SERVERS[name]
    haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if haproxy is None:
        return RestartResult("restart", name, error="haproxy is not installed")
    scratch.mkdir(parents=True)
    ports = [servers.free_port() for _ in range(INSTANCES)]
    front, stats = servers.free_port(), scratch / "haproxy.sock"
    check_path = "/readyz" if drain else "/"
    config = scratch / "haproxy.cfg"
    config.write_text(haproxy_config(front, ports, check_path, stats))
    processes = [spawn(build(port, drain), scratch / f"s{i}.log") for i, port in enumerate(ports)]
    balancer = spawn([haproxy, "-db", "-f", str(config)], scratch / "haproxy.log")
    try:
        for port in ports:
            wait_for(lambda port=port: answers(port), f"{name} on port {port}")
        wait_for(lambda: set(haproxy_states(stats).values()) == {"UP"}, "HAProxy: all up")
        with wrk_running(front, scratch) as report:
            time.sleep(START_AFTER_S)  # load running before the first restart
            started = time.monotonic()
            for i, port in enumerate(ports):
                processes[i].send_signal(signal.SIGTERM)
                processes[i].wait(timeout=STEP_TIMEOUT_S)
                processes[i] = spawn(build(port, drain), scratch / f"s{i}.log")
                wait_for(lambda port=port: answers(port), f"{name} on port {port} again")
                wait_for(lambda i=i: haproxy_states(stats).get(f"s{i}") == "UP", f"s{i} up")
            took = time.monotonic() - started
            load = report()
        if took + START_AFTER_S > LOAD_S:
            raise servers.ServerError(f"the restart took {took:.1f} s, longer than the load")
        failed = load.socket_errors + load.bad_responses
        return RestartResult("restart", name, load.requests, failed, took)
    except (servers.ServerError, loadgen.LoadError, OSError, subprocess.SubprocessError) as exc:
        return RestartResult("restart", name, error=f"{type(exc).__name__}: {exc}")
    finally:
        for process in [*processes, balancer]:
            servers.stop(process)


# -- SIGHUP with 2 workers ------------------------------------------------------------


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def sighup_restart(spec: servers.ServerSpec, scratch: Path) -> RestartResult:
    try:
        with servers.running(spec, scratch) as server:
            wait_for(lambda: len(children(server.pid)) >= int(servers.WORKERS), "the workers")
            before = children(server.pid)
            with wrk_running(server.port, scratch) as report:
                time.sleep(START_AFTER_S)  # load running before the signal
                started = time.monotonic()
                os.kill(server.pid, signal.SIGHUP)

                def replaced() -> bool:
                    now = children(server.pid)
                    return len(before - now) >= int(servers.WORKERS) and len(now - before) >= 2

                wait_for(replaced, f"{spec.name}'s workers replaced")
                took = time.monotonic() - started
                load = report()
        failed = load.socket_errors + load.bad_responses
        return RestartResult("sighup", spec.name, load.requests, failed, took)
    except (servers.ServerError, loadgen.LoadError, OSError, subprocess.SubprocessError) as exc:
        return RestartResult("sighup", spec.name, error=f"{type(exc).__name__}: {exc}")


# -- one shared socket or SO_REUSEPORT ------------------------------------------------


def reuseport_sockets(count: int) -> tuple[int, list[socket.socket]]:
    """`count` listening sockets on one port of 127.0.0.1, each with SO_REUSEPORT."""
    sockets: list[socket.socket] = []
    port = 0
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((probe.HOST, port))
        sock.listen(1024)
        port = sock.getsockname()[1]
        sockets.append(sock)
    return port, sockets


@contextlib.contextmanager
def reuseport_pair(scratch: Path) -> Iterator[tuple[int, list[int]]]:
    """Two single-process Ferry servers, each on its own SO_REUSEPORT socket of one port;
    yields the port and their pids."""
    port, sockets = reuseport_sockets(2)
    processes = []
    try:
        for i, sock in enumerate(sockets):
            command = [
                *("taskset", "-c", servers.BOTH_CORES, str(servers.FERRY_PYTHON), "-m", "ferry"),
                *("serve", servers.APP, "--fd", str(sock.fileno())),
                *("--no-access-log", "--loop", "uvloop"),
            ]
            log = scratch / f"reuseport-{i}.log"
            processes.append(spawn(command, log, pass_fds=(sock.fileno(),)))
        for sock in sockets:
            sock.close()  # the servers hold their own copies
        # Eight answers in a row: with two queues hashed by port, both are serving.
        wait_for(lambda: all(answers(port) for _ in range(8)), "both servers")
        yield port, [process.pid for process in processes]
    finally:
        for sock in sockets:
            sock.close()
        for process in processes:
            servers.stop(process)


def unanswered(port: int) -> int:
    """Open STRANDED_CONNECTIONS connections, send a GET on each, and count those with no
    complete response within STRANDED_WAIT_S."""
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, bytes] = {}
    try:
        for _ in range(STRANDED_CONNECTIONS):
            sock = socket.create_connection((probe.HOST, port), timeout=STRANDED_WAIT_S)
            sock.sendall(probe.request_bytes(port))
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            pending[sock] = b""
        deadline = time.monotonic() + STRANDED_WAIT_S
        while pending and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = pending[sock] + sock.recv(65536)
                if data.endswith(b"Hello, world!") or not data:
                    selector.unregister(sock)
                    del pending[sock]
                    sock.close()
                else:
                    pending[sock] = data
        return len(pending)
    finally:
        for sock in pending:
            sock.close()
        selector.close()


def with_one_stopped(pid: int, port: int) -> int:
    os.kill(pid, signal.SIGSTOP)
    try:
        return unanswered(port)
    finally:
        os.kill(pid, signal.SIGCONT)


def reuseport_comparison(scratch: Path, duration_s: int) -> list[ReuseportResult]:
    scratch.mkdir(parents=True)
    profile = loadgen.WORKERS
    results = []
    try:
        with servers.running(servers.WORKER_SERVERS["ferry"], scratch / "shared") as server:
            wait_for(lambda: len(children(server.pid)) >= 2, "the workers")
            rate = loadgen.run_wrk(profile, server.port, duration_s).requests_per_s
            worker = min(children(server.pid))
            results.append(
                ReuseportResult("one shared socket", rate, with_one_stopped(worker, server.port))
            )
    except (servers.ServerError, loadgen.LoadError, OSError) as exc:
        results.append(ReuseportResult("one shared socket", error=str(exc)))
    try:
        with reuseport_pair(scratch) as (port, pids):
            rate = loadgen.run_wrk(profile, port, duration_s).requests_per_s
            results.append(ReuseportResult("SO_REUSEPORT", rate, with_one_stopped(pids[0], port)))
    except (servers.ServerError, loadgen.LoadError, OSError) as exc:
        results.append(ReuseportResult("SO_REUSEPORT", error=str(exc)))
    return results


# -- running and reporting ------------------------------------------------------------


def run(
    scenarios: list[str], names: list[str], duration_s: int
) -> tuple[list[RestartResult], list[ReuseportResult]]:
    restarts: list[RestartResult] = []
    reuse: list[ReuseportResult] = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-restarts-") as root:
        scratch = Path(root)
        if "restart" in scenarios:
            print("\n== restart", flush=True)
            for name in INSTANCE_SERVERS:
                if name.split("-")[0] in names:
                    print(f"  {name}", flush=True)
                    restarts.append(rolling_restart(name, scratch / f"restart-{name}"))
                    print(f"    -> {summarize(restarts[-1])}", flush=True)
        if "sighup" in scenarios:
            print("\n== sighup", flush=True)
            for name, spec in SIGHUP_SERVERS.items():
                if spec.selected_by in names:
                    print(f"  {name}", flush=True)
                    restarts.append(sighup_restart(spec, scratch / f"sighup-{name}"))
                    print(f"    -> {summarize(restarts[-1])}", flush=True)
        if "reuseport" in scenarios and "ferry" in names:
            print("\n== reuseport", flush=True)
            reuse = reuseport_comparison(scratch / "reuseport", duration_s)
    return restarts, reuse


def summarize(result: RestartResult) -> str:
    if result.error:
        return f"FAILED: {result.error.strip().splitlines()[0]}"
    took = f", restart {result.restart_seconds:.1f} s" if result.restart_seconds else ""
    return f"{result.failed} failed of {result.requests:,} requests{took}"


def format_report(restarts: list[RestartResult], reuse: list[ReuseportResult]) -> str:
    parts = []
    for scenario, heading in (
        (
            "restart",
            f"restart — {INSTANCES} instances behind HAProxy (retries 0), {LOAD.description}",
        ),
        ("sighup", f"sighup — SIGHUP to 2 workers under load, {LOAD.description}"),
    ):
        rows = [r for r in restarts if r.scenario == scenario]
        if rows:
            parts.append(
                heading + "\n" + "\n".join(f"  {r.server:<18} {summarize(r)}" for r in rows)
            )
    if reuse:
        lines = [
            f"  {r.server:<18} "
            + (
                f"FAILED: {r.error}"
                if r.error
                else f"{r.requests_per_s:,.0f} req/s; one process stopped: "
                f"{r.unanswered} of {STRANDED_CONNECTIONS} new connections unanswered"
            )
            for r in reuse
        ]
        parts.append("reuseport — how connections reach 2 processes\n" + "\n".join(lines))
    return "\n\n".join(parts)


def checks(restarts: list[RestartResult]) -> list[tuple[str, str, str, str]]:
    """(target, measured, needed, verdict) for Ferry's zero-failure targets."""
    found = []
    for scenario in ("restart", "sighup"):
        result = next((r for r in restarts if r.scenario == scenario and r.server == "ferry"), None)
        if result is None:
            continue
        label = f"{scenario}: ferry failed requests"
        if result.error:
            found.append((label, "—", f"= {FAILURES_TARGET}", "NOT MEASURED"))
        else:
            verdict = "PASS" if result.failed <= FAILURES_TARGET else "FAIL"
            found.append((label, str(result.failed), f"= {FAILURES_TARGET}", verdict))
    return found
