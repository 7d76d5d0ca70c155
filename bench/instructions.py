"""Instructions per request, counted by callgrind: the repeatable measure of a hot path.

Wall-clock numbers on a shared machine drift by tens of percent between minutes;
instruction counts do not. For each case this starts ``ferry serve`` under
``valgrind --tool=callgrind`` (with the compiled accelerator, as ``make install``
builds it), warms it up, zeroes the counters (``callgrind_control -z``), sends exactly
``--requests`` requests from this process (which callgrind does not count), dumps the
counters (``callgrind_control -d``) and divides the server's instructions by the
requests answered. Every response is read whole and its status checked.

Cases (the ones ``make bench`` measures by wall clock):

- ``hello``: ``bench.apps:hello``, 16 keep-alive connections, one request at a time each;
- ``pipeline``: the same app, 4 connections, 16 requests written at once on each;
- ``static-small``: ``ferry serve DIR`` answering the 13-byte file, as ``hello``;
- ``hello-metrics``: ``hello`` with ``--metrics-port 0``: what counting costs (the
  ``metrics`` scenario of ``make bench``).

The access log is off (``--no-access-log``) unless ``--access-log`` is given: then the
default format's lines are written (to stdout, which goes to /dev/null), to measure
what a line costs.

Usage: ``.venv/bin/python bench/instructions.py [--requests N] [--cases a,b] [--access-log]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import static_site

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
CASES = ("hello", "pipeline", "static-small", "hello-metrics")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def request(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench\r\n\r\n".encode()


def read_responses(sock: socket.socket, count: int, size: int) -> None:
    """Read ``count`` responses of ``size`` bytes each and check each says 200."""
    want = count * size
    data = bytearray()
    while len(data) < want:
        piece = sock.recv(max(65536, want - len(data)))
        if not piece:
            raise RuntimeError("the server closed the connection")
        data += piece
    if len(data) != want or data.count(b"HTTP/1.1 200 ") != count:
        raise RuntimeError(f"unexpected responses: {bytes(data[:200])!r}")


def response_size(port: int, path: str) -> int:
    """The byte length of one whole response to ``path`` (a fixed-size answer)."""
    with socket.create_connection((HOST, port)) as sock:
        sock.sendall(request(path, port))
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if not head.startswith(b"HTTP/1.1 200 ") or match is None:
            raise RuntimeError(f"unexpected response: {data[:200]!r}")
        length = int(match.group(1))
        while len(body) < length:
            body += sock.recv(65536)
        return len(head) + 4 + length


def load(port: int, path: str, total: int, connections: int, depth: int) -> int:
    """Send ``total`` requests (rounded down to whole batches) over ``connections``
    connections, ``depth`` at a time on each; return how many were answered."""
    size = response_size(port, path)
    one = request(path, port)
    socks = [socket.create_connection((HOST, port)) for _ in range(connections)]
    rounds = max(1, total // (connections * depth))
    try:
        for _ in range(rounds):
            for sock in socks:
                sock.sendall(one * depth)
            for sock in socks:
                read_responses(sock, depth, size)
    finally:
        for sock in socks:
            sock.close()
    return rounds * connections * depth


@contextlib.contextmanager
def server(argv: list[str], port: int, out: Path, access_log: bool = False) -> Iterator[int]:
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        str(PYTHON),
        "-m",
        "ferry",
        "serve",
        *argv,
        "--host",
        HOST,
        "--port",
        str(port),
        *([] if access_log else ["--no-access-log"]),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("FERRY_PURE", None)
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def callgrind_control(flag: str, pid: int) -> None:
    subprocess.run(
        ["callgrind_control", flag, str(pid)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


def instructions(dump: Path) -> int:
    """The Ir total of a callgrind dump (its ``summary:`` or ``totals:`` line)."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(case: str, requests: int, scratch: Path, access_log: bool = False) -> float:
    path = "/"
    connections, depth = 16, 1
    if case == "static-small":
        site = static_site.write(scratch / "site")
        argv = [str(site)]
        path = static_site.SMALL_PATH
        time.sleep(2.5)  # StaticFiles caches a file once its ctime is 2 s old
    else:
        argv = ["bench.apps:hello"]
    if case == "hello-metrics":
        argv += ["--metrics-port", "0"]
    if case == "pipeline":
        connections, depth = 4, 16
    port = free_port()
    out = scratch / f"callgrind.{case}.out"
    with server(argv, port, out, access_log) as pid:
        load(port, path, 2000, connections, depth)  # warm-up: caches, code paths
        callgrind_control("-z", pid)
        answered = load(port, path, requests, connections, depth)
        callgrind_control("-d", pid)
    dumps = sorted(scratch.glob(f"callgrind.{case}.out*"), key=lambda p: p.stat().st_mtime)
    # The dump made by -d (the newest before the exit dump): the measured requests only.
    measured = [d for d in dumps if d != out] or dumps
    return instructions(measured[0]) / answered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--access-log", action="store_true", help="write access log lines")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            scratch = Path(tmp) / case
            scratch.mkdir()
            per_request = measure(case, args.requests, scratch, args.access_log)
            print(f"{case:14} {per_request:10,.0f} instructions per request", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
