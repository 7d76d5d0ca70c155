"""Load runs with wrk, pinned to core 1, and the parsing of wrk's report.

wrk's `--latency` report is read for Requests/sec, Transfer/sec (response bytes, heads
included), the 99th latency percentile, the request count and any socket errors or
non-2xx/3xx responses, which mark a run whose throughput cannot be trusted.

Pipelined latency is approximate at best. wrk records one latency per batch, then
"corrects" for coordinated omission assuming one response per round trip: it adds
synthetic samples spaced by the mean interval between responses, which with 16
responses per batch is 16 times too short. Samples it adds below the smallest
measured one are counted but never reached when it walks its histogram, so for a
server whose latencies sit above that interval it prints every percentile as 0.00us.
We report such a p99 as missing (None), never as zero.
"""

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import static_site
from probe import HOST

LOAD_CORE = "1"
PIPELINE_SCRIPT = Path(__file__).with_name("pipeline.lua")
PIPELINE_DEPTH = 16
WRK_TIMEOUT = "5s"  # per request; slower responses count as timeouts
EXIT_GRACE_S = 30  # beyond the run's duration before wrk itself is killed

# wrk prints times with these units (see format_time in wrk's units.c).
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
# ... and sizes with binary prefixes (format_binary: "1.17GB", "512.00B").
SIZE_PREFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


class LoadError(Exception):
    """wrk failed, or printed a report without the numbers we need."""


@dataclass(frozen=True)
class LoadProfile:
    """One wrk scenario: connections, the path asked for, the Lua script (with its args)
    if any, and the number Ferry is compared on: requests/s, or bytes/s for large bodies
    (where a request count says little); the URL's scheme (wrk speaks TLS for https://),
    header fields wrk adds to each request, the cores wrk runs on and its thread count."""

    scenario: str
    description: str
    connections: int
    path: str = "/"
    script: Path | None = None
    script_args: tuple[str, ...] = ()
    metric: Literal["requests", "bytes"] = "requests"
    cpus: str = LOAD_CORE  # taskset's list for wrk
    threads: int = 1
    scheme: Literal["http", "https"] = "http"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    bytes_per_s: float  # wrk's Transfer/sec: response heads and bodies
    p99_ms: float | None  # None when wrk printed 0 (see the module docstring)
    requests: int
    socket_errors: int
    bad_responses: int
    wrk_command: str  # the load's command line (wrk's, or bench/ws_load.py's)
    load_cpu_share: float | None = None  # ws_load.py's CPU time over wall time


HELLO = LoadProfile("hello", "keep-alive, 64 connections", connections=64)
PIPELINE = LoadProfile(
    "pipeline",
    f"pipelined depth {PIPELINE_DEPTH}, 256 connections (p99: per batch, approximate)",
    connections=256,
    script=PIPELINE_SCRIPT,
    script_args=(str(PIPELINE_DEPTH),),
)
STATIC_SMALL = LoadProfile(
    "static-small",
    f"{len(static_site.SMALL_BODY)}-byte file, keep-alive, 64 connections",
    connections=64,
    path=static_site.SMALL_PATH,
)
STATIC_LARGE = LoadProfile(
    "static-large",
    f"{static_site.LARGE_SIZE >> 20} MiB file, keep-alive, 16 connections",
    connections=16,
    path=static_site.LARGE_PATH,
    metric="bytes",
)
WSGI = LoadProfile("wsgi", "WSGI hello world, keep-alive, 64 connections", connections=64)
WORKERS = LoadProfile(
    "workers",
    "2 worker processes, keep-alive, 128 connections; servers and wrk (2 threads) share both cores",
    connections=128,
    cpus="0,1",
    threads=2,
)
HTTPS_HELLO = LoadProfile(
    "https-hello", "over TLS, keep-alive, 64 connections", connections=64, scheme="https"
)
HTTPS_STATIC_LARGE = LoadProfile(
    "https-static-large",
    f"{static_site.LARGE_SIZE >> 20} MiB file over TLS, keep-alive, 16 connections",
    connections=16,
    path=static_site.LARGE_PATH,
    metric="bytes",
    scheme="https",
)
# wrk opens a new connection when a response says `Connection: close`. It offers the
# session it was last given (a TLS 1.3 ticket, which every server here issues by
# default), so nearly every handshake is resumed (nginx's $ssl_session_reused said so
# for 274 of 278): a new key exchange, no certificate or signature, as when a browser
# comes back to a site. bench/README.md has more.
HTTPS_HANDSHAKES = LoadProfile(
    "https-handshakes",
    "over TLS, a new connection (a resumed handshake) per request, 64 connections",
    connections=64,
    scheme="https",
    headers=("Connection: close",),
)
METRICS = LoadProfile(
    "metrics", "hello, keep-alive, 64 connections: Ferry with --metrics-port, and without", 64
)
PROFILES = {
    profile.scenario: profile
    for profile in (
        HELLO,
        PIPELINE,
        STATIC_SMALL,
        STATIC_LARGE,
        WSGI,
        WORKERS,
        METRICS,
        HTTPS_HELLO,
        HTTPS_STATIC_LARGE,
        HTTPS_HANDSHAKES,
    )
}


def wrk_command(profile: LoadProfile, port: int, duration_s: int) -> list[str]:
    """Return the wrk command line for `profile` against 127.0.0.1:`port`."""
    command = ["taskset", "-c", profile.cpus, "wrk", f"-t{profile.threads}"]
    command.append(f"-c{profile.connections}")
    command += [f"-d{duration_s}s", "--latency", "--timeout", WRK_TIMEOUT]
    if profile.script is not None:
        command += ["-s", str(profile.script)]
    for header in profile.headers:
        command += ["-H", header]
    command.append(f"{profile.scheme}://{HOST}:{port}{profile.path}")
    if profile.script_args:
        command += ["--", *profile.script_args]
    return command


def run_wrk(profile: LoadProfile, port: int, duration_s: int) -> LoadResult:
    """Run wrk for `duration_s` seconds and return its parsed report.

    Raises `LoadError` if wrk fails, overruns its duration by EXIT_GRACE_S, or prints
    no Requests/sec, Transfer/sec or 99% latency.
    """
    command = wrk_command(profile, port, duration_s)
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + EXIT_GRACE_S
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk did not finish within {duration_s + EXIT_GRACE_S} s") from exc
    if completed.returncode != 0:
        raise LoadError(f"wrk exited with {completed.returncode}: {completed.stderr.strip()}")
    return parse_wrk_report(completed.stdout, shlex.join(command))


def parse_wrk_report(report: str, wrk_command: str) -> LoadResult:
    """Extract the numbers we use from wrk's `--latency` report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    transfer = re.search(r"^Transfer/sec:\s+([\d.]+)([KMGTP]?)B\s*$", report, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", report, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in ", report, re.MULTILINE)
    if rate is None or transfer is None or p99 is None or total is None:
        raise LoadError(f"unexpected wrk report:\n{report}")
    return LoadResult(
        requests_per_s=float(rate[1]),
        bytes_per_s=float(transfer[1]) * SIZE_PREFIXES[transfer[2]],
        p99_ms=(float(p99[1]) * TIME_UNITS_MS[p99[2]]) or None,
        requests=int(total[1]),
        socket_errors=_socket_errors(report),
        bad_responses=_count(r"^\s+Non-2xx or 3xx responses: (\d+)", report),
        wrk_command=wrk_command,
    )


def _socket_errors(report: str) -> int:
    """Sum of connect, read, write and timeout errors; 0 when wrk prints no such line."""
    line = re.search(r"^\s+Socket errors: (.*)$", report, re.MULTILINE)
    return sum(int(n) for n in re.findall(r"\d+", line[1])) if line else 0


def _count(pattern: str, report: str) -> int:
    match = re.search(pattern, report, re.MULTILINE)
    return int(match[1]) if match else 0
