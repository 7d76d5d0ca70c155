"""Minimum data rates, both ways (``--min-body-rate``, ``--min-send-rate``; Kestrel's
MinRequestBodyDataRate and MinResponseDataRate), over real sockets.

The clients pace themselves with their own sleeps: that is the slowness under test, not
synchronisation. Each loop is bounded (``BOUND`` seconds): without the rates, the slow
clients would still be going at the bound, and the tests fail. A grace period of 1 s
keeps them quick; the server judges rates on its half-second ticker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry import Config, StaticFiles
from ferry._errors import ConfigError
from ferry.asgi import Receive, Scope, Send
from ferry.server._rates import BodyRate, MinRate, SendTimer, write_deadline

from ..support import serving
from ._helpers import body_echo, captured_log, error_response, open_connection, read_body

TICK = 0.5  # the server's deadline sweep period (ferry.server._server._TICK)
SLACK = 1.5  # scheduling noise on a loaded machine
GRACE = 1.0
BOUND = 8.0  # seconds a slow client keeps going before the test gives up on the server
LARGE = 16 << 20  # bytes of a large response: more than the kernel's buffers hold
PIECE = 16384  # bytes per http.response.body of the streaming app
# Fast enough that the bytes held at a pause (the transport's high-water mark and a
# piece) get only the grace period, slow enough for any loopback reader.
SEND_RATE = 1_000_000
TOO_SLOW_BODY = error_response(408, "Request Timeout", "request body slower than the minimum rate")


# -- the sans-IO accounting --------------------------------------------------------------


def test_a_body_rate_is_judged_only_past_the_grace_period() -> None:
    rate = BodyRate(MinRate(240, 5.0))
    rate.start(100.0)
    assert not rate.too_slow(104.9)  # nothing came, but it is still the grace period
    assert rate.too_slow(105.1)
    rate.received(240 * 6)
    assert not rate.too_slow(105.9)  # 1440 bytes in 5.9 s: above 240 bytes/s
    assert rate.too_slow(106.1)


def test_a_body_rate_counts_only_the_time_it_runs() -> None:
    rate = BodyRate(MinRate(240, 1.0))
    rate.start(0.0)
    rate.start(0.5)  # already running: the start stays at 0.0
    rate.stop(0.8)
    rate.stop(50.0)  # already stopped: nothing added
    rate.start(100.0)
    assert rate.waited_at(100.5) == pytest.approx(1.3)
    rate.received(400)  # 400 bytes in 1.3 s: above the minimum
    assert not rate.too_slow(100.5)
    assert rate.too_slow(101.0)  # 400 bytes in 1.8 s: below


def test_a_write_gets_the_grace_period_or_its_time_at_the_rate() -> None:
    minimum = MinRate(1000, 5.0)
    assert write_deadline(10.0, 2000, 0.0, minimum) == 15.0  # 2 s at the rate: grace wins
    assert write_deadline(10.0, 8000, 0.0, minimum) == 18.0  # 8 s at the rate
    # Right after a wait due at 14.0: its time is added to it, no grace of its own...
    assert write_deadline(10.0, 8000, 14.0, minimum) == 22.0
    # ... and one long past does not count.
    assert write_deadline(100.0, 2000, 14.0, minimum) == 105.0


def test_a_send_timer_runs_from_a_pause_to_the_resume() -> None:
    timer = SendTimer(MinRate(1000, 5.0))
    assert not timer.expired(1000.0)  # not waiting
    timer.start(10.0, 2000)
    timer.start(12.0, 9000)  # paused already: the first wait stands
    assert not timer.expired(14.9)
    assert timer.expired(15.0)
    assert timer.describe(15.0, 1500) == (
        "took 500 of 2000 bytes in 5.0 s (100 bytes/s; minimum 1000 bytes/s after 5 s)"
    )
    timer.stop()
    assert not timer.expired(15.0)
    timer.start(15.0, 1000)  # just after a wait due at 15.0: that deadline, plus 1 s
    assert timer.deadline == 20.0


def test_the_rates_come_from_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferry._cli import build_parser, config_from_args

    monkeypatch.setenv("FERRY_MIN_SEND_RATE", "0")
    monkeypatch.setenv("FERRY_MIN_SEND_RATE_GRACE", "2.5")
    argv = ["serve", "--min-body-rate", "1000", "--min-body-rate-grace", "3"]
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    assert (config.min_body_rate, config.min_body_rate_grace) == (1000, 3)
    assert (config.min_send_rate, config.min_send_rate_grace) == (0, 2.5)
    defaults = Config()  # Kestrel's
    assert (defaults.min_body_rate, defaults.min_body_rate_grace) == (240, 5)
    assert (defaults.min_send_rate, defaults.min_send_rate_grace) == (240, 5)


def test_the_rates_are_validated() -> None:
    assert Config(min_body_rate=0, min_send_rate=0).min_send_rate == 0  # 0: off
    with pytest.raises(ConfigError, match="min_body_rate must be 0"):
        Config(min_body_rate=-1)
    with pytest.raises(ConfigError, match="min_send_rate_grace must be at least 1"):
        Config(min_send_rate_grace=0.5)


# -- request bodies ----------------------------------------------------------------------


def trickle(sock: socket.socket, data: bytes, piece: int, every: float) -> tuple[int, float]:
    """Send ``data``, ``piece`` bytes every ``every`` seconds, until the server answers or
    closes, or for at most BOUND seconds; (bytes sent, seconds taken)."""
    start = time.monotonic()
    sent = 0
    while sent < len(data) and time.monotonic() - start < BOUND:
        if select.select([sock], [], [], every)[0]:
            break  # an answer (or the close): stop sending
        sock.sendall(data[sent : sent + piece])
        sent += piece
    select.select([sock], [], [], BOUND)
    return sent, time.monotonic() - start


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_trickled_below_the_minimum_rate_gets_408(loop_name: str, framing: str) -> None:
    # 10 bytes every 0.1 s: about 100 bytes/s (67 of them body bytes when chunked), under
    # the default 240; each piece comes well within body_timeout, which never fires.
    if framing == "chunked":
        body = b"".join(b"a\r\n" + b"x" * 10 + b"\r\n" for _ in range(200)) + b"0\r\n\r\n"
        framing_field = b"Transfer-Encoding: chunked"
    else:
        body = b"x" * 3000
        framing_field = b"Content-Length: 3000"
    head = b"POST / HTTP/1.1\r\nHost: t\r\n" + framing_field + b"\r\n\r\n"
    with serving(body_echo, loop_name, min_body_rate_grace=GRACE, body_timeout=5) as server:
        sock, reader = open_connection(server.port, timeout=BOUND)
        with sock:
            sock.sendall(head)
            sent, elapsed = trickle(sock, body, 10, 0.1)
            received = reader.to_close()
    assert received == TOO_SLOW_BODY
    assert GRACE <= elapsed < GRACE + TICK + SLACK
    assert sent < len(body)


def test_a_wsgi_body_trickled_below_the_minimum_rate_gets_408(loop_name: str) -> None:
    failures: list[type[BaseException]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            body = environ["wsgi.input"].read()
        except OSError as exc:  # the client is gone, as far as the app can tell
            failures.append(type(exc))
            raise
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n"
    options = {"interface": "wsgi", "min_body_rate_grace": GRACE, "body_timeout": 5}
    with captured_log("ferry.error"), serving(app, loop_name, **options) as server:
        sock, reader = open_connection(server.port, timeout=BOUND)
        with sock:
            sock.sendall(head)
            sent, elapsed = trickle(sock, b"x" * 3000, 10, 0.1)
            received = reader.to_close()
    assert received == TOO_SLOW_BODY
    assert GRACE <= elapsed < GRACE + TICK + SLACK
    assert sent < 3000
    assert len(failures) == 1


def test_a_body_the_app_is_slow_to_read_is_not_cut(loop_name: str) -> None:
    # The client sends 1 MiB at once and the rest 3 s later: 0.35 MB/s overall, under the
    # 0.5 MB/s asked. But the app takes nothing for the first 2 s after its first piece:
    # reading is paused meanwhile (the queue is full), and that time is not the client's.
    # Counted, the ticks while the app waits for the last bytes would answer 408.
    size = 1 << 20
    taken: list[int] = []

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        more = True
        while more:
            message = await receive()
            taken.append(len(message.get("body", b"")))
            more = message.get("more_body", False)
            if len(taken) == 1:
                await asyncio.sleep(2.0)  # the app's own slowness
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(sum(taken)).encode()})

    options = {"min_body_rate": 500_000, "min_body_rate_grace": GRACE}
    with serving(slow_app, loop_name, **options) as server:
        sock, reader = open_connection(server.port, timeout=BOUND)
        with sock:
            head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (size + 10)
            sock.sendall(head + b"x" * size)
            time.sleep(3.0)  # the client's pacing
            sock.sendall(b"x" * 10)
            response = reader.response()
    assert response.endswith(b"\r\n\r\n" + str(size + 10).encode())


def test_the_time_before_the_app_asks_for_the_body_is_not_the_clients(loop_name: str) -> None:
    # The app asks for the body after 3 s; only then does the 100 Continue go out, and
    # the client sends 750 bytes at 500 bytes/s. Counted from the head, that would be
    # 750 bytes in 4.5 s: 167 bytes/s, under the 240 asked.
    async def late_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await asyncio.sleep(3.0)  # the app's own slowness
        body = await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    head = b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 750\r\n\r\n"
    with serving(late_app, loop_name, min_body_rate_grace=GRACE) as server:
        sock, reader = open_connection(server.port, timeout=BOUND)
        with sock:
            sock.sendall(head)
            assert reader.head() == b"HTTP/1.1 100 Continue\r\n\r\n"
            sent, _ = trickle(sock, b"x" * 750, 50, 0.1)
            response = reader.response()
    assert sent == 750
    assert response.endswith(b"\r\n\r\n750")


def test_a_fast_body_is_not_cut(loop_name: str) -> None:
    size = 8 << 20
    options = {"min_body_rate": 1_000_000, "min_body_rate_grace": GRACE}
    with serving(body_echo, loop_name, **options) as server:
        sock, reader = open_connection(server.port, timeout=BOUND * 2)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            sock.sendall(b"y" * size)
            response = reader.response()
    assert response.endswith(b"\r\n\r\n" + b"y" * size)


# -- responses ---------------------------------------------------------------------------


async def large_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """LARGE bytes of b"z", in PIECE-byte messages (each waits for the client)."""
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    headers = [(b"content-length", str(LARGE).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    piece = b"z" * PIECE
    for _ in range(LARGE // PIECE - 1):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": piece})


@pytest.fixture
def large_file(tmp_path: Path) -> Path:
    (tmp_path / "large.bin").write_bytes(b"z" * LARGE)
    return tmp_path


@contextlib.contextmanager
def info_log() -> Iterator[list[logging.LogRecord]]:
    """The ferry.error records meanwhile, info ones included."""
    logger = logging.getLogger("ferry.error")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with captured_log("ferry.error") as records:
            yield records
    finally:
        logger.setLevel(level)


def send_get(sock: socket.socket, target: bytes) -> None:
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")


def slow_read(
    port: int, target: bytes, send: Callable[[socket.socket, bytes], None] = send_get
) -> tuple[int, float, int]:
    """GET ``target`` (``send`` writes the request: over TLS, see test_tls) and read
    the socket 4 bytes every 1/8 s (32 bytes a second), with a small receive buffer,
    until the server cuts the connection or BOUND seconds have passed; (bytes read,
    seconds taken from the request, the client's port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(BOUND)
        sock.connect(("127.0.0.1", port))
        send(sock, target)
        start = time.monotonic()
        taken = 0
        # A reset leaves what was received readable: the poll sees it at once.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        with contextlib.suppress(ConnectionResetError):
            while time.monotonic() - start < BOUND:
                if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
                    break
                data = sock.recv(4)
                if not data:
                    break
                taken += len(data)
                time.sleep(0.125)  # the pacing: 32 bytes a second
        return taken, time.monotonic() - start, sock.getsockname()[1]


def assert_cut_and_logged(result: tuple[int, float, int], records: list[logging.LogRecord]) -> None:
    taken, elapsed, client_port = result
    assert GRACE <= elapsed < GRACE + TICK + SLACK
    assert taken < 1000
    [record] = [r for r in records if "reading too slowly" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert record.getMessage().startswith(
        f"connection from 127.0.0.1:{client_port} aborted, reading too slowly: took "
    )
    assert record.getMessage().endswith(f"minimum {SEND_RATE} bytes/s after 1 s)")


def test_a_slow_reader_of_a_large_response_is_cut_off(loop_name: str) -> None:
    options = {"min_send_rate": SEND_RATE, "min_send_rate_grace": GRACE}
    with info_log() as records, serving(large_stream, loop_name, **options) as server:
        result = slow_read(server.port, b"/")
    assert_cut_and_logged(result, records)


def test_a_slow_reader_of_a_sendfile_response_is_cut_off(loop_name: str, large_file: Path) -> None:
    options = {"min_send_rate": SEND_RATE, "min_send_rate_grace": GRACE}
    app = StaticFiles(large_file)
    with info_log() as records, serving(app, loop_name, **options) as server:
        result = slow_read(server.port, b"/large.bin")
    assert_cut_and_logged(result, records)


def read_all(port: int, target: bytes) -> bytes:
    sock, reader = open_connection(port, timeout=BOUND * 2)
    with sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        return reader.response()


@pytest.mark.parametrize("target", [b"/", b"/large.bin"], ids=["stream", "sendfile"])
def test_a_fast_reader_of_a_large_response_is_not_cut(
    loop_name: str, large_file: Path, target: bytes
) -> None:
    app = large_stream if target == b"/" else StaticFiles(large_file)
    options = {"min_send_rate": SEND_RATE, "min_send_rate_grace": GRACE}
    with info_log() as records, serving(app, loop_name, **options) as server:
        response = read_all(server.port, target)
        again = read_all(server.port, target)  # a new connection, the same answer
    assert response.endswith(b"\r\n\r\n" + b"z" * LARGE)
    assert again == response
    assert not [r for r in records if "reading too slowly" in r.getMessage()]
