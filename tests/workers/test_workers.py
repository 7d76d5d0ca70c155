"""``ferry serve --workers N``: real processes, real signals, real sockets. Every wait is
on something the processes show: a log line, a pid, a port answering."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry._cli import config_from_args, prepare

from ..server._helpers import REPO, free_port, parse_fields
from ..support import exchange

APPS = "tests.workers._apps"
READY = re.compile(r"worker (\d+) ready")


class Workers:
    """``ferry serve ARGS`` with workers, its stderr read line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferry", "serve", *args, "--port", str(self.port)],
            cwd=REPO,
            env={**inherited, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.used: set[int] = set()  # lines a wait_for has matched
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # the end

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first line not matched before that matches ``pattern``, among those
        already read or, waiting for it, those to come."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        start = 0
        while True:
            for index in range(start, len(self.log)):
                if index not in self.used and (match := compiled.search(self.log[index])):
                    self.used.add(index)
                    return match
            start = len(self.log)
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line {pattern!r} in:\n{''.join(self.log)}") from None
            if not line:
                self.lines.put("")  # the end stays the end
                raise AssertionError(f"ended without {pattern!r}:\n{''.join(self.log)}")
            self.log.append(line)

    def ready_pids(self, count: int) -> set[int]:
        return {int(self.wait_for(READY.pattern).group(1)) for _ in range(count)}

    def children(self) -> set[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(pid) for pid in path.read_text().split()}

    def get(self, path: str = "/") -> tuple[int, bytes]:
        """One request on a new connection: (status, body)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        with contextlib.suppress(AssertionError):
            self.wait_for("this line never comes", timeout=5)  # the rest of the log
        return code


@contextlib.contextmanager
def workers(*args: str, env: dict[str, str] | None = None) -> Iterator[Workers]:
    process = Workers(*args, env=env)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            try:
                process.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait()
        process.reader.join(timeout=10)  # the pipe's end: every worker has exited too
        assert process.proc.stderr is not None
        process.proc.stderr.close()


def served_by(process: Workers, path: str = "/") -> int:
    status, body = process.get(path)
    assert status == 200
    return int(body)


def test_workers_are_processes_of_the_main_process_and_serve() -> None:
    with workers(f"{APPS}:pid", "--workers", "2", "--no-access-log") as ferry:
        main = ferry.wait_for(r"with 2 workers \(main process (\d+);")
        assert int(main.group(1)) == ferry.proc.pid
        pids = ferry.ready_pids(2)
        assert ferry.children() == pids
        assert served_by(ferry) in pids
        ferry.signal(signal.SIGTERM)
        assert ferry.finish() == 0
    assert "Ferry main process" in ferry.log[-1]
    # The main process imported no application: only the workers did.
    imports = [line for line in ferry.log if "apps imported in" in line]
    assert {int(line.split()[-1]) for line in imports} == pids


def test_a_killed_worker_is_logged_and_replaced() -> None:
    with workers(f"{APPS}:pid", "--workers", "2", "--no-access-log") as ferry:
        first, second = sorted(ferry.ready_pids(2))
        os.kill(first, signal.SIGKILL)
        ferry.wait_for(rf"ERROR: worker {first} died \(killed by SIGKILL\)")
        [new] = ferry.ready_pids(1)
        assert ferry.children() == {second, new}
        assert served_by(ferry) in {second, new}


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("nosuchmodule:app", 2, "ferry: error: could not import module 'nosuchmodule'"),
        (f"{APPS}:failing_startup", 3, "ferry: application startup failed: no database"),
    ],
)
def test_a_worker_that_cannot_start_stops_the_server_with_its_status(
    target: str, status: int, message: str
) -> None:
    with workers(target, "--workers", "2") as ferry:
        assert ferry.finish() == status
    log = "".join(ferry.log)
    assert message in log
    assert f"failed to start (exit status {status}): stopping" in log
    assert "ready" not in log  # and none was started again


def keep_alive_load(port: int, done: threading.Event, failures: list[str]) -> None:
    """Requests back to back on a kept-alive connection, as wrk sends them: no retry, a
    new connection only after a response that said ``Connection: close``. A connection
    that ends without saying so, before a response, is a failure (its request is lost);
    so is any status but 200. Bounded: 20,000 requests."""
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for _ in range(20_000):
            if done.is_set():
                return
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data) < response_length(data):
                chunk = sock.recv(65536)
                if not chunk:
                    failures.append(f"closed before a response; got {data!r}")
                    return
                data += chunk
            head = data.partition(b"\r\n\r\n")[0].lower()
            if not head.startswith(b"http/1.1 200 "):
                failures.append(repr(data))
            if b"\r\nconnection: close" in head:
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as exc:
        failures.append(repr(exc))
    finally:
        sock.close()


def response_length(data: bytes) -> int:
    """The whole response's size, from its head's Content-Length."""
    head, _, _ = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert length is not None, data
    return len(head) + 4 + int(length[1])


def test_sighup_replaces_every_worker_with_new_code_and_fails_no_request(tmp_path: Path) -> None:
    app = tmp_path / "versioned.py"
    source = (
        "import os\n"
        "async def app(scope, receive, send):\n"
        "    body = b'{version} ' + str(os.getpid()).encode()\n"
        "    await send({{'type': 'http.response.start', 'status': 200, 'headers': []}})\n"
        "    await send({{'type': 'http.response.body', 'body': body}})\n"
    )
    app.write_text(source.format(version="v1"))
    args = ("versioned:app", "--app-dir", str(tmp_path), "--workers", "2", "--no-access-log")
    with workers(*args, "--lifespan", "off") as ferry:
        old = ferry.ready_pids(2)
        failures: list[str] = []
        bodies: list[bytes] = []
        done = threading.Event()

        def load() -> None:  # new connections, one after another, every answer checked
            for _ in range(5000):
                if done.is_set():
                    return
                try:
                    status, body = ferry.get()
                except OSError as exc:
                    failures.append(repr(exc))
                    continue
                if status != 200:
                    failures.append(f"{status} {body!r}")
                bodies.append(body)

        # And connections kept alive, whose next request may be on its way as the old
        # worker stops: it must be answered, not lost.
        loaders = [threading.Thread(target=load)]
        loaders += [
            threading.Thread(target=keep_alive_load, args=(ferry.port, done, failures))
            for _ in range(4)
        ]
        for loader in loaders:
            loader.start()
        try:
            app.write_text(source.format(version="v2"))
            ferry.signal(signal.SIGHUP)
            ferry.wait_for("SIGHUP: replacing 2 workers, one at a time")
            new = ferry.ready_pids(2)
            for _ in old:
                ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        finally:
            done.set()
            for loader in loaders:
                loader.join(timeout=60)
        assert failures == []
        assert ferry.children() == new
        assert not new & old
        assert ferry.get()[1].startswith(b"v2 ")
        assert len(bodies) > 0


def test_sigttin_and_sigttou_add_and_remove_a_worker() -> None:
    with workers(f"{APPS}:pid", "--workers", "2", "--no-access-log") as ferry:
        pids = ferry.ready_pids(2)
        ferry.signal(signal.SIGTTIN)
        ferry.wait_for("SIGTTIN: 3 workers")
        [added] = ferry.ready_pids(1)
        assert ferry.children() == {*pids, added}
        ferry.signal(signal.SIGTTOU)
        ferry.wait_for("SIGTTOU: 2 workers")
        stopped = int(ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)").group(1))
        assert stopped == added  # the youngest goes
        assert ferry.children() == pids


def test_max_requests_recycles_a_worker_without_failing_a_request() -> None:
    args = ("--workers", "2", "--max-requests", "3", "--no-access-log")
    with workers(f"{APPS}:pid", *args) as ferry:
        first = ferry.ready_pids(2)
        served = [served_by(ferry) for _ in range(12)]  # every one a 200 (served_by)
        ferry.wait_for(r"worker (\d+) served its max_requests: to be replaced")
        replacement = ferry.ready_pids(1)
        ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        assert not replacement & first
        assert len(set(served)) >= 2


def test_the_watchdog_logs_where_a_stuck_worker_is_then_replaces_it() -> None:
    args = ("--workers", "2", "--worker-timeout", "1", "--no-access-log")
    with workers(f"{APPS}:pid", *args) as ferry:
        pids = ferry.ready_pids(2)

        def request() -> None:
            with contextlib.suppress(OSError, IndexError):  # its worker is killed
                ferry.get("/block")

        stuck = threading.Thread(target=request, daemon=True)
        stuck.start()  # answered by nobody: its worker is killed
        found = ferry.wait_for(r"CRITICAL: worker (\d+): no beat for \d+ s \(--worker-timeout\)")
        pid = int(found.group(1))
        assert pid in pids
        ferry.wait_for(r'File ".*_apps\.py", line \d+ in block_the_loop')
        ferry.wait_for(rf"CRITICAL: \[{pid}\] worker {pid}: requests in flight:")
        ferry.wait_for(r"  GET /block from 127\.0\.0\.1:\d+, for \d+\.\d s")
        ferry.wait_for(rf"worker {pid} did not turn its event loop for \d+ s: killed")
        ferry.wait_for(rf"worker {pid} died \(killed by SIGKILL\)")
        [new] = ferry.ready_pids(1)
        assert ferry.children() == (pids - {pid}) | {new}


def test_sigterm_lets_a_request_in_flight_finish() -> None:
    with workers(f"{APPS}:pid", "--workers", "2", "--no-access-log") as ferry:
        pids = ferry.ready_pids(2)
        answers: list[tuple[int, bytes]] = []
        slow = threading.Thread(target=lambda: answers.append(ferry.get("/slow")))
        slow.start()
        ferry.wait_for("slow request started in")
        ferry.signal(signal.SIGTERM)
        ferry.wait_for("SIGTERM: stopping gracefully")
        slow.join(timeout=30)
        assert ferry.finish() == 0
    assert len(answers) == 1
    assert answers[0][0] == 200
    assert int(answers[0][1]) in pids


def test_preload_imports_the_app_once_in_the_main_process() -> None:
    with workers(f"{APPS}:pid", "--workers", "2", "--preload", "--no-access-log") as ferry:
        imported = int(ferry.wait_for(r"apps imported in (\d+)").group(1))
        assert imported == ferry.proc.pid
        pids = ferry.ready_pids(2)
        assert served_by(ferry) in pids
        ferry.signal(signal.SIGTERM)
        assert ferry.finish() == 0
    assert sum("apps imported in" in line for line in ferry.log) == 1


def test_web_concurrency_sets_the_workers_as_uvicorn_and_gunicorn_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if "FERRY" not in k})
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    argv = ["serve", "m:a"]
    assert config_from_args(prepare(argv).parse_args(argv)).workers == 3
    monkeypatch.setenv("FERRY_WORKERS", "5")  # Ferry's own name first
    assert config_from_args(prepare(argv).parse_args(argv)).workers == 5
    argv = ["serve", "m:a", "--workers", "2"]
    assert config_from_args(prepare(argv).parse_args(argv)).workers == 2


def server_field(port: int) -> bytes | None:
    """The Server field of one response on a new connection."""
    response = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return parse_fields(response.partition(b"\r\n\r\n")[0]).get(b"server")


def test_sighup_reads_the_config_file_again(tmp_path: Path) -> None:
    """SIGHUP's new workers run with the configuration as the file says now."""
    config = tmp_path / "ferry.toml"
    config.write_text('server_header = "first"\n')
    args = (f"{APPS}:pid", "--workers", "2", "--no-access-log", "--config", str(config))
    with workers(*args) as ferry:
        old = ferry.ready_pids(2)
        assert server_field(ferry.port) == b"first"
        config.write_text('server_header = "second"\n')
        ferry.signal(signal.SIGHUP)
        new = ferry.ready_pids(2)
        for _ in old:
            ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        assert ferry.children() == new
        assert not new & old
        assert {server_field(ferry.port) for _ in range(4)} == {b"second"}
