"""``ferry fetch URL``: curl's options and exit statuses on the blocking client, with
``--trace``: the steps of each exchange as a timeline (docs/fetch.md).

Exit statuses are curl's, so scripts can tell failures apart: 0 done (whatever the HTTP
status, unless ``-f``), 22 a status of 400 or more with ``-f``, 1 an unsupported
protocol, 2 bad options, 3 a bad URL or request, 6 an unknown host, 7 no connection, 8 a
response that breaks HTTP/1.1, 23 the output could not be written, 26 an upload file
that cannot be read, 28 a timeout (``-m``, ``--connect-timeout``, ``--timeout``), 33 a
resume the server does not support, 35 a TLS handshake that failed, 47 too many
redirects, 52 an empty reply, 56 the connection broke, 60 a certificate that could not be
verified, 61 a body that could not be decoded, 63 a body larger than ``--max-filesize``,
77 a ``--cacert`` or ``--capath`` that cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
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
    ResponseTooLarge,
    TooManyRedirects,
    TotalTimeout,
)
from ..http1 import Response as ResponseHead
from ._decoders import IdentityDecoder
from ._fetch_options import add_fetch_command
from ._fetch_request import FetchRequest, RequestProblem, build_request, remote_name
from ._fetch_writeout import Transfer, write_out
from ._limits import StepTimeouts
from ._models import URL, Timeouts
from ._sync._backend import Trace
from ._sync._client import Client, Response
from ._sync._connection import StaleConnection
from ._sync._transports import BaseTransport, Request, ResponseBody
from ._tls import VerifyInput, read_handshake, trust_context

__all__ = ["Timeline", "add_fetch_command", "run_fetch"]

EXIT_OK, EXIT_UNSUPPORTED, EXIT_USAGE, EXIT_BAD_REQUEST = 0, 1, 2, 3
EXIT_RESOLVE, EXIT_CONNECT, EXIT_BAD_RESPONSE, EXIT_HTTP_ERROR = 6, 7, 8, 22
EXIT_WRITE, EXIT_READ, EXIT_TIMEOUT, EXIT_RANGE, EXIT_REDIRECTS = 23, 26, 28, 33, 47
EXIT_EMPTY_REPLY, EXIT_NETWORK, EXIT_DECODING, EXIT_FILESIZE = 52, 56, 61, 63
EXIT_TLS_HANDSHAKE, EXIT_CERTIFICATE, EXIT_CA_FILE = 35, 60, 77

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

    def exchanges(self) -> list[tuple[bytes, bytes]]:
        """(request head, response head) of each hop, redirects first."""
        hops: list[tuple[bytes, bytes]] = []
        sent = b""
        for name, _, data in self.steps:
            if name in ("request_sent", "head_sent"):
                sent = data
            elif name == "head_received":
                hops.append((sent, data))
        return hops

    def ends(self) -> dict[str, float]:
        """Seconds from the start to the end of each step (of the last hop that took
        it), and ``redirect``: when the last hop started (the one before it ended)."""
        ends = {name: end for name, end, _ in self.steps}
        heads = [end for name, end, _ in self.steps if name == "head_received"]
        if len(heads) > 1:
            ends["redirect"] = heads[-2]
        return ends

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
    """Run ``ferry fetch`` with parsed arguments; return the exit status (curl's)."""
    transfer = Transfer(url=_with_scheme(args.url))
    started = time.perf_counter()
    try:
        status = _run(args, transfer)
    except RequestProblem as exc:
        status = _fail(args, transfer, exc.status, str(exc))
    except TotalTimeout:  # -m
        elapsed = (time.perf_counter() - started) * 1000
        received = f"{transfer.size_download}"
        if transfer.size_expected is not None:
            received += f" out of {transfer.size_expected}"
        status = _fail(
            args,
            transfer,
            EXIT_TIMEOUT,
            f"Operation timed out after {elapsed:.0f} milliseconds with {received} bytes received",
        )
    except (ClientTimeout, ConnectError, NetworkError, RemoteProtocolError) as exc:
        status = _fail(args, transfer, _network_status(exc), str(exc))
    except LocalProtocolError as exc:
        status = _fail(args, transfer, EXIT_BAD_REQUEST, str(exc))
    except DecodingError as exc:
        status = _fail(args, transfer, EXIT_DECODING, str(exc))
    except ResponseTooLarge:
        status = _fail(args, transfer, EXIT_FILESIZE, "Maximum file size exceeded")
    except TooManyRedirects:
        status = _fail(
            args, transfer, EXIT_REDIRECTS, f"Maximum ({args.max_redirs}) redirects followed"
        )
    except OSError as exc:  # the output: a broken pipe, a full disk
        status = _fail(args, transfer, EXIT_WRITE, f"Failure writing output to destination: {exc}")
    if args.write_out is not None:
        transfer.exitcode = status
        _write_out(args.write_out, transfer)
    return status


def _network_status(exc: Exception) -> int:
    """curl's exit status for a network failure."""
    if isinstance(exc, ClientTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, ConnectError):
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):  # untrusted, expired, wrong name
            return EXIT_CERTIFICATE
        if isinstance(cause, ssl.SSLError):  # no common version or cipher, an alert
            return EXIT_TLS_HANDSHAKE
        return EXIT_RESOLVE if isinstance(cause, socket.gaierror) else EXIT_CONNECT
    if isinstance(exc, StaleConnection):
        return EXIT_EMPTY_REPLY  # closed before any byte of a response
    if isinstance(exc, RemoteProtocolError):
        return EXIT_BAD_RESPONSE
    return EXIT_NETWORK


def _fail(args: argparse.Namespace, transfer: Transfer, status: int, message: str) -> int:
    """Report a failure as curl does (unless ``-s`` without ``-S``), keep it for ``-w``;
    return ``status``."""
    transfer.errormsg = message
    if not args.silent or args.show_error:
        print(f"ferry fetch: ({status}) {message}", file=sys.stderr)
    return status


def _with_scheme(url: str) -> str:
    """curl's guess for a URL without a scheme: http://."""
    return url if "://" in url else f"http://{url}"


def _write_out(format: str, transfer: Transfer) -> None:
    if format.startswith("@"):
        path = format[1:]
        try:
            format = sys.stdin.read() if path == "-" else Path(path).read_text()
        except OSError as exc:
            print(f"ferry fetch: cannot read the -w file: {exc}", file=sys.stderr)
            return
    sys.stdout.flush()
    write_out(format, transfer, sys.stdout, sys.stderr)
    sys.stdout.flush()


def _run(args: argparse.Namespace, transfer: Transfer) -> int:
    args.url = transfer.url
    scheme = args.url.partition("://")[0].lower()
    if scheme not in ("http", "https"):
        return _fail(args, transfer, EXIT_UNSUPPORTED, f'Protocol "{scheme}" not supported')
    if args.remote_name and not remote_name(args.url):
        return _fail(args, transfer, EXIT_WRITE, "Remote file name has no length!")
    request = build_request(args)
    transfer.method = request.method
    step = args.timeout
    connect = step if args.connect_timeout is None else min(step, args.connect_timeout)
    # -m: the client's total deadline, redirects and the body included (-m 0: none).
    total = args.max_time or None
    timeouts = Timeouts(connect=connect, read=step, write=step, pool=step, total=total)
    with Client(
        timeouts=timeouts,
        verify=_verify(args),
        uds=args.unix_socket,
        follow_redirects=args.location,
        max_redirects=args.max_redirs,
        max_response_size=args.max_filesize or None,  # curl: 0 is no limit
        proxy=args.proxy,
        no_proxy=args.noproxy,
    ) as client:
        client.transport = CurlHeaders(client.transport, request.removed)
        try:
            return _exchanges(client, args, request, transfer)
        finally:
            close = getattr(request.body, "close", None)
            if close is not None:
                close()  # -T FILE


def _verify(args: argparse.Namespace) -> VerifyInput:
    """What the client trusts: nothing checked with ``-k``; else ``--cacert`` and
    ``--capath`` instead of the system's store (as curl). Raises RequestProblem (curl's
    77) when they cannot be read or hold no certificate."""
    if args.insecure:
        return False
    if args.cacert is None and args.capath is None:
        return True
    try:
        return trust_context(args.cacert, args.capath)
    except (OSError, ssl.SSLError) as exc:  # SSLError: a file that holds no certificate
        named = args.cacert if args.cacert is not None else args.capath
        raise RequestProblem(
            f"error setting certificate file: {named} ({exc})", EXIT_CA_FILE
        ) from None


def _exchanges(
    client: Client, args: argparse.Namespace, request: FetchRequest, transfer: Transfer
) -> int:
    """Send the request (``--repeat`` times); print the trace reports."""
    reports = []
    status = EXIT_OK
    output = _Output(args, request)
    try:
        for _ in range(max(1, args.repeat)):
            timeline = Timeline()
            with client.stream(
                request.method,
                request.url,
                headers=request.headers,
                body=request.body,
                trace=timeline,
            ) as response:
                status = _receive(response, timeline, args, request, output, transfer)
            reports.append(_report(request.method, request.url, response, timeline))
            if status != EXIT_OK:
                break
    finally:
        output.close()
    if args.trace_json:
        print(json.dumps(reports if args.repeat > 1 else reports[0], indent=2))
    elif args.trace:
        for report in reports:
            sys.stderr.write(render_trace(report))
    return status


class CurlHeaders(BaseTransport):
    """Sends each request (each redirect too) without the header fields curl would not
    send: those ``-H 'Name:'`` removed, and the client's Accept-Encoding unless
    ``--compressed``."""

    def __init__(self, transport: BaseTransport, removed: set[str]) -> None:
        self.transport = transport
        self.removed = {name.encode("latin-1") for name in removed}

    def handle_request(
        self, request: Request, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, ResponseBody]:
        if self.removed:
            request.headers = [(n, v) for n, v in request.headers if n.lower() not in self.removed]
        return self.transport.handle_request(request, timeouts, trace)

    def close(self) -> None:
        self.transport.close()


class _Output:
    """Where the heads (``-i``) and the body go: ``-o FILE``, ``-O``, else stdout; a file
    is opened when the first byte is written (appended to when resuming)."""

    def __init__(self, args: argparse.Namespace, request: FetchRequest) -> None:
        path = args.output or (remote_name(args.url) if args.remote_name else None)
        self.path = None if path == "-" else path
        self.append = bool(request.resume_from)
        self._file: IO[bytes] | None = None
        self.discard = args.trace_json and self.path is None  # stdout carries the JSON

    def write(self, data: bytes) -> None:
        """Write ``data`` (opening the file first; also for b"": an empty body makes an
        empty file, as with curl)."""
        if self.discard:
            return
        if self.path is None:
            sys.stdout.buffer.write(data)
            return
        if self._file is None:
            self._file = open(self.path, "ab" if self.append else "wb")  # noqa: SIM115
        self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self.path is None:
            sys.stdout.buffer.flush()


def _receive(
    response: Response,
    timeline: Timeline,
    args: argparse.Namespace,
    request: FetchRequest,
    output: _Output,
    transfer: Transfer,
) -> int:
    """Show the heads of each hop as asked, write the body; the exit status."""
    if not args.compressed:
        # curl without --compressed hands the body over as it came (still encoded).
        response._decoder = IdentityDecoder()
    exchanges = timeline.exchanges()
    if args.verbose:
        for sent, received in exchanges:
            _show_head(sent, "> ")
            _show_head(received, "< ")
    heads = b"".join(received for _, received in exchanges)
    if args.dump_header:
        with open(args.dump_header, "wb") as file:
            file.write(heads)
    if (args.include or args.head) and heads:
        output.write(heads)
    _describe(transfer, response, timeline, request)
    failing = response.status >= 400 and (args.fail or args.fail_with_body)
    if request.resume_from and response.status == 200:
        return _fail(
            args,
            transfer,
            EXIT_RANGE,
            "HTTP server doesn't seem to support byte ranges. Cannot resume.",
        )
    # -f: no body for a status >= 400 (--fail-with-body writes it still). curl takes a
    # 416 to a resume for "already complete": no error, and its body is not written.
    complete = request.resume_from and response.status == 416
    if not (failing and not args.fail_with_body) and not args.head and not complete:
        progress = output.path is not None and sys.stderr.isatty() and not args.silent
        output.write(b"")
        transfer.size_download = _copy(response, output, transfer, progress=progress)
    timeline("body_received", b"")
    transfer.total = time.perf_counter() - timeline.started
    if failing:
        return _fail(
            args, transfer, EXIT_HTTP_ERROR, f"The requested URL returned error: {response.status}"
        )
    return EXIT_OK


def _describe(
    transfer: Transfer, response: Response, timeline: Timeline, request: FetchRequest
) -> None:
    """What ``-w`` reports, from the final response and the steps of all hops."""
    exchanges = timeline.exchanges()
    transfer.url_effective = _url_text(response.url)
    transfer.status = response.status
    transfer.http_version = response.http_version
    transfer.headers = response.header
    transfer.times = timeline.ends()
    transfer.num_connects = sum(1 for name, _, _ in timeline.steps if name == "connect")
    transfer.num_redirects = len(exchanges) - 1
    transfer.size_header = sum(len(received) for _, received in exchanges)
    transfer.size_request = sum(len(sent.partition(b"\r\n\r\n")[0]) + 4 for sent, _ in exchanges)
    transfer.size_upload = len(request.body) if isinstance(request.body, bytes) else 0
    location = response.header("location")
    if location is not None and 300 <= response.status < 400:
        with contextlib.suppress(RemoteProtocolError):
            transfer.redirect_url = _url_text(response.url.join(location))


def _url_text(url: URL) -> str:
    return f"{url.scheme}://{url.authority.decode('ascii')}{url.target.decode('ascii')}"


def _copy(response: Response, output: _Output, transfer: Transfer, *, progress: bool) -> int:
    """Write the body; return its size (counted in ``transfer`` as it goes, for -m)."""
    total = response.header("content-length")
    size = transfer.size_expected = int(total) if total and total.isdigit() else None
    started = time.perf_counter()
    transfer.size_download = 0
    for piece in response.iter_bytes():
        output.write(piece)
        transfer.size_download += len(piece)
        if progress:
            elapsed = time.perf_counter() - started
            sys.stderr.write("\r" + _progress(transfer.size_download, size, elapsed))
    if progress:
        sys.stderr.write("\n")
    return transfer.size_download


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


def _report(method: str, url: str, response: Response, timeline: Timeline) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"step": name, "start_ms": start * 1000, "duration_ms": duration * 1000}
        for name, start, duration in timeline.durations()
    ]
    for step, (name, _, data) in zip(steps, timeline.steps, strict=True):
        if name == "tls":
            step["tls"] = read_handshake(data)
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
        if "tls" in step:
            lines.append(f"    {_handshake_text(step['tls'])}")
        if step["step"] == "first_byte":
            for metric in report["server_timing"]:
                duration = metric["duration_ms"]
                shown = "" if duration is None else f"{duration:9.3f} ms"
                lines.append(f"    server: {metric['name']:<18} {shown}")
    lines.append(f"  {'total':<26} {report['total_ms']:9.3f} ms")
    lines.append(f"  connection {report['connection']}")
    return "\n".join(lines) + "\n\n"


def _handshake_text(tls: dict[str, str | None]) -> str:
    """ "TLSv1.3, cipher TLS_AES_256_GCM_SHA384, ALPN http/1.1" ("no ALPN" without)."""
    alpn = f"ALPN {tls['alpn']}" if tls["alpn"] else "no ALPN"
    return f"{tls['version']}, cipher {tls['cipher']}, {alpn}"
