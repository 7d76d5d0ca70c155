"""``ferry fetch URL``: a small curl on the blocking client, with ``--trace``: the steps
of each exchange as a timeline (docs/client.md, "ferry fetch").

Exit statuses follow curl's, so scripts can tell failures apart: 0 a response with a
status below 400, 22 a status of 400 or more, 3 a bad URL or request, 7 no connection,
8 a response that breaks HTTP/1.1, 28 a timeout, 56 the connection broke, 61 a body that
could not be decoded, 23 the output file could not be written, 47 too many redirects.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._errors import (
    ClientTimeout,
    ConnectError,
    DecodingError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    TooManyRedirects,
)
from ._models import Timeouts
from ._sync._client import Client, Response

__all__ = ["Timeline", "add_fetch_command", "run_fetch"]

EXIT_OK, EXIT_HTTP_ERROR, EXIT_BAD_REQUEST, EXIT_CONNECT = 0, 22, 3, 7
EXIT_BAD_RESPONSE, EXIT_TIMEOUT, EXIT_NETWORK, EXIT_DECODING, EXIT_WRITE = 8, 28, 56, 61, 23
EXIT_REDIRECTS = 47

STEP_NAMES = {
    "dns": "DNS lookup",
    "connect": "TCP connect",
    "tls": "TLS handshake",
    "request_sent": "request sent",
    "head_sent": "request head sent",
    "body_sent": "request body sent",
    "first_byte": "waiting (first byte)",
    "head_received": "response head received",
    "body_received": "response body received",
}


def add_fetch_command(subparsers: Any) -> None:
    """Add ``fetch`` to the ``ferry`` command's subparsers."""
    fetch = subparsers.add_parser(
        "fetch",
        help="send an HTTP request and show the response (a small curl)",
        description="Send one HTTP/1.1 request with Ferry's client. Exit status: 0 ok, "
        "22 HTTP status >= 400, 3 bad URL, 7 no connection, 8 bad response, 28 timeout, "
        "56 connection broke, 61 undecodable body, 23 cannot write the output, "
        "47 too many redirects.",
        allow_abbrev=False,
    )
    fetch.add_argument("url", metavar="URL")
    fetch.add_argument(
        "-X", "--request", dest="method", help="method (default GET, or POST with -d)"
    )
    fetch.add_argument(
        "-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'"
    )
    fetch.add_argument("-d", "--data", help="request body; @FILE reads it from FILE")
    fetch.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE")
    fetch.add_argument("-L", "--location", action="store_true", help="follow redirects")
    fetch.add_argument("--timeout", type=float, default=30.0, help="seconds for each step")
    fetch.add_argument("-i", "--include", action="store_true", help="print the response head")
    fetch.add_argument("-v", "--verbose", action="store_true", help="print both heads as exchanged")
    fetch.add_argument("--trace", action="store_true", help="print the exchange as a timeline")
    fetch.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="send N requests on one client"
    )
    fetch.add_argument("--json", action="store_true", help="print the trace as JSON")
    fetch.add_argument("--insecure", action="store_true", help="do not verify certificates")
    fetch.add_argument("--unix-socket", metavar="PATH", help="connect to this UNIX socket")
    fetch.add_argument(
        "-x",
        "--proxy",
        metavar="URL",
        help="an HTTP proxy for the request (default: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)",
    )
    fetch.add_argument(
        "--noproxy",
        metavar="LIST",
        help="hosts that bypass the proxy, as NO_PROXY lists them (which it replaces)",
    )


@dataclass
class Timeline:
    """The steps of one exchange: (step, seconds since the request started, data)."""

    started: float = field(default_factory=time.perf_counter)
    steps: list[tuple[str, float, bytes]] = field(default_factory=list)
    reused: bool = False

    def __call__(self, step: str, data: bytes) -> None:
        if step == "reused":
            self.reused = True
            return
        self.steps.append((step, time.perf_counter() - self.started, data))

    def data(self, step: str) -> bytes:
        return next((data for name, _, data in self.steps if name == step), b"")

    def durations(self) -> list[tuple[str, float, float]]:
        """(step, start, duration) in seconds: each step lasts from the end of the one
        before it, so the durations add up to the whole exchange."""
        out = []
        previous = 0.0
        for name, end, _ in self.steps:
            out.append((name, previous, end - previous))
            previous = end
        return out


def run_fetch(args: argparse.Namespace) -> int:
    """Run ``ferry fetch`` with parsed arguments; return the exit status."""
    try:
        return _fetch(args)
    except LocalProtocolError as exc:
        return _fail(EXIT_BAD_REQUEST, exc)
    except ConnectError as exc:
        return _fail(EXIT_CONNECT, exc)
    except ClientTimeout as exc:
        return _fail(EXIT_TIMEOUT, exc)
    except RemoteProtocolError as exc:
        return _fail(EXIT_BAD_RESPONSE, exc)
    except NetworkError as exc:
        return _fail(EXIT_NETWORK, exc)
    except DecodingError as exc:
        return _fail(EXIT_DECODING, exc)
    except TooManyRedirects as exc:
        return _fail(EXIT_REDIRECTS, exc)


def _fail(status: int, exc: Exception) -> int:
    print(f"ferry fetch: {type(exc).__name__}: {exc}", file=sys.stderr)
    return status


def _fetch(args: argparse.Namespace) -> int:
    try:
        headers = [_header(line) for line in args.headers]
        body = _body(args.data)
    except (OSError, ValueError) as exc:
        return _fail(EXIT_BAD_REQUEST, exc)
    method = args.method or ("POST" if body is not None else "GET")
    timeouts = Timeouts(args.timeout, args.timeout, args.timeout, args.timeout)
    reports = []
    status = EXIT_OK
    with Client(
        timeouts=timeouts,
        verify=not args.insecure,
        uds=args.unix_socket,
        follow_redirects=args.location,
        proxy=args.proxy,
        no_proxy=args.noproxy,
    ) as client:
        for _ in range(max(1, args.repeat)):
            timeline = Timeline()
            with client.stream(
                method, args.url, headers=headers, body=body, trace=timeline
            ) as response:
                status = _receive(response, timeline, args)
            reports.append(_report(method, args.url, response, timeline))
            if status != EXIT_OK:
                break
    if args.json:
        print(json.dumps(reports if args.repeat > 1 else reports[0], indent=2))
    elif args.trace:
        for report in reports:
            sys.stderr.write(render_trace(report))
    return status


def _receive(response: Response, timeline: Timeline, args: argparse.Namespace) -> int:
    if args.verbose:
        _show_head(timeline.data("request_sent") or timeline.data("head_sent"), "> ")
        _show_head(timeline.data("head_received"), "< ")
    elif args.include:
        sys.stdout.buffer.write(timeline.data("head_received"))
    try:
        sink = _sink(args)
    except OSError as exc:
        return _fail(EXIT_WRITE, exc)
    try:
        _copy(response, sink, progress=bool(args.output) and sys.stderr.isatty())
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
        else:
            sink.flush()
    timeline("body_received", b"")
    return EXIT_HTTP_ERROR if response.status >= 400 else EXIT_OK


def _sink(args: argparse.Namespace) -> IO[bytes]:
    """Where the body goes: -o FILE, else stdout - unless stdout carries the JSON trace."""
    if args.output:
        return open(args.output, "wb")
    if args.json:
        return open(os.devnull, "wb")
    return sys.stdout.buffer


def _copy(response: Response, sink: IO[bytes], *, progress: bool) -> None:
    total = response.header("content-length")
    size = int(total) if total and total.isdigit() else None
    done = 0
    started = time.perf_counter()
    for piece in response.iter_bytes():
        sink.write(piece)
        done += len(piece)
        if progress:
            sys.stderr.write("\r" + _progress(done, size, time.perf_counter() - started))
    if progress:
        sys.stderr.write("\n")


def _progress(done: int, size: int | None, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    line = f"{_bytes(done)}"
    if size:
        line += f" / {_bytes(size)} ({100 * done // size}%)"
    line += f"  {_bytes(int(rate))}/s"
    if size and rate > 0:
        line += f"  ETA {max(0.0, (size - done) / rate):.0f} s"
    return line.ljust(60)


def _bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _show_head(data: bytes, prefix: str) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        sys.stderr.write(prefix + line.decode("latin-1") + "\n")
    sys.stderr.write(prefix.strip() + "\n")


def _header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"a header is 'Name: value', not {line!r}")
    return name.strip(), value.strip()


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        return Path(data[1:]).read_bytes()
    return data.encode()


def _report(method: str, url: str, response: Response, timeline: Timeline) -> dict[str, Any]:
    steps = [
        {"step": name, "start_ms": start * 1000, "duration_ms": duration * 1000}
        for name, start, duration in timeline.durations()
    ]
    return {
        "method": method,
        "url": url,
        "status": response.status,
        "reused_connection": timeline.reused,
        "steps": steps,
        "total_ms": sum(step["duration_ms"] for step in steps),
        "server_timing": server_timing(response.header("server-timing")),
        "connection": "kept alive" if response.kept_alive else "closed",
    }


def server_timing(value: str | None) -> list[dict[str, Any]]:
    """The metrics of a ``Server-Timing`` field (W3C Server Timing): name and ``dur``."""
    metrics = []
    for entry in (value or "").split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        if not name:
            continue
        metric: dict[str, Any] = {"name": name, "duration_ms": None}
        for param in params:
            key, _, number = param.partition("=")
            if key.strip().lower() == "dur":
                with contextlib.suppress(ValueError):  # a malformed dur is left out
                    metric["duration_ms"] = float(number.strip().strip('"'))
        metrics.append(metric)
    return metrics


def render_trace(report: dict[str, Any]) -> str:
    """The timeline as text: one bar per step, the server's phases inside the wait."""
    total = report["total_ms"] or 1.0
    width = 40
    lines = [f"{report['method']} {report['url']} -> {report['status']}"]
    if report["reused_connection"]:
        lines.append("  (connection reused: no DNS, connect or TLS)")
    for step in report["steps"]:
        offset = int(step["start_ms"] / total * width)
        length = max(1, round(step["duration_ms"] / total * width))
        bar = " " * offset + "#" * length
        name = STEP_NAMES.get(step["step"], step["step"])
        lines.append(f"  {name:<26} {step['duration_ms']:9.3f} ms  |{bar:<{width}}|")
        if step["step"] == "first_byte":
            for metric in report["server_timing"]:
                duration = metric["duration_ms"]
                shown = "" if duration is None else f"{duration:9.3f} ms"
                lines.append(f"    server: {metric['name']:<18} {shown}")
    lines.append(f"  {'total':<26} {report['total_ms']:9.3f} ms")
    lines.append(f"  connection {report['connection']}")
    return "\n".join(lines) + "\n\n"
