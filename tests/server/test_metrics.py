"""``--metrics-port`` in one process: the exposition, read by Prometheus's own parser,
against the traffic each test sent over real sockets, on asyncio and uvloop; the
listener is its own, never the application's port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ferry.asgi import Receive, Scope, Send
from ferry.metrics import Recorder, SharedSlots, render
from ferry.server import Server

from ..metrics._scrape import edges, parse, samples_at, scrape, value
from ..support import ServerThread, serving
from ._helpers import Gate, open_connection, read_body
from .test_errors import LIMITS, PROTOCOL_ERRORS


class App:
    """Answers ``app:`` and the request body; 404 at /missing; /hold waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = Gate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        body = await read_body(receive)
        if scope["path"] == "/hold":
            await self.gate.wait()
        status = 404 if scope["path"] == "/missing" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"app:" + body})


def metrics_port(server: ServerThread) -> int:
    assert server.server is not None
    assert server.server.local_metrics is not None
    return int(server.server.local_metrics.sockets[0].getsockname()[1])


@pytest.fixture
def metered(loop_name: str) -> Iterator[ServerThread]:
    with serving(App(), loop_name, metrics_port=0, **LIMITS) as server:
        yield server


def send_on(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(65536)


def test_requests_bytes_and_reuses_as_sent(metered: ServerThread) -> None:
    port = metered.port
    sock, reader = open_connection(port)
    with sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response().endswith(b"\r\n\r\napp:")
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert reader.response().endswith(b"\r\n\r\napp:hello")
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert reader.response().endswith(b"\r\n\r\napp:abcde")
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.response().endswith(b"\r\n\r\napp:")
        sock.sendall(b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n")  # RFC 2324
        assert reader.response().endswith(b"\r\n\r\napp:")
    samples = samples_at(metrics_port(metered))
    assert value(samples, "ferry_requests_total", method="GET", status="200") == 3
    assert value(samples, "ferry_requests_total", method="POST", status="200") == 1
    assert value(samples, "ferry_requests_total", method="PUT", status="200") == 1
    assert value(samples, "ferry_requests_total", method="GET", status="404") == 1
    assert value(samples, "ferry_requests_total", method="other", status="200") == 1
    assert value(samples, "ferry_request_duration_seconds_count") == 7
    assert value(samples, "ferry_request_duration_seconds_bucket", le="+Inf") == 7
    assert value(samples, "ferry_connections_total") == 2
    assert value(samples, "ferry_keepalive_reuses_total") == 5  # 4 on the first, 1 on the second
    assert value(samples, "ferry_request_bytes_total") == 10  # hello, abcde (not the framing)
    assert value(samples, "ferry_response_bytes_total") == 7 * 4 + 10
    assert sum(v for (name, _), v in samples.items() if name == "ferry_protocol_errors_total") == 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert ("ferry_event_loop_lag_seconds", ()) in samples


def test_protocol_errors_by_status(metered: ServerThread) -> None:
    sent: dict[str, int] = {}
    for param in PROTOCOL_ERRORS:
        data, status, _ = param.values
        with socket.create_connection(("127.0.0.1", metered.port), timeout=5) as sock:
            answer = send_on(sock, data)  # type: ignore[arg-type]
        assert answer.startswith(f"HTTP/1.1 {status} ".encode())
        sent[str(status)] = sent.get(str(status), 0) + 1
    samples = samples_at(metrics_port(metered))
    counted = {
        labels[0][1]: int(count)
        for (name, labels), count in samples.items()
        if name == "ferry_protocol_errors_total" and count
    }
    assert counted == sent
    assert sum(v for (name, _), v in samples.items() if name == "ferry_requests_total") == 0


def test_in_flight_during_a_held_request(metered: ServerThread) -> None:
    gate = metered.app.gate  # type: ignore[attr-defined]
    idle, idle_reader = open_connection(metered.port)
    sock, reader = open_connection(metered.port)
    with sock, idle, gate:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # answered: open, idle
        assert idle_reader.response().endswith(b"\r\n\r\napp:")
        sock.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        gate.arrived()
        samples = samples_at(metrics_port(metered))
        assert value(samples, "ferry_requests_in_flight") == 1
        assert value(samples, "ferry_connections_open") == 2
        assert value(samples, "ferry_requests_total", method="GET", status="200") == 1
        gate.open()
        assert reader.response().endswith(b"\r\n\r\napp:")
        samples = samples_at(metrics_port(metered))
        assert value(samples, "ferry_requests_in_flight") == 0
        assert value(samples, "ferry_requests_total", method="GET", status="200") == 2


def test_the_listener_is_its_own(metered: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", metered.port), timeout=5) as sock:
        answer = send_on(sock, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.endswith(b"\r\n\r\napp:")  # the application's port: the app answers
    head, body = scrape(metrics_port(metered), "/")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert body == b"metrics are at /metrics\n"
    head, _ = scrape(metrics_port(metered))
    assert b"\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\n" in head
    edges(metrics_port(metered))


def test_off_by_default(loop_name: str) -> None:
    with serving(App(), loop_name) as server:
        assert server.server is not None
        assert server.server.local_metrics is None
        assert server.server.state.metrics is None


class WorkerServer(ServerThread):
    """A server given its recorder, as the main process of ``--workers`` gives each
    worker one on a slot of the memory it shares (and reads)."""

    def __init__(self, app: App, loop: str, recorder: Recorder) -> None:
        super().__init__(app, loop)
        self.recorder = recorder

    def make_server(self) -> Server:
        server = super().make_server()
        server.metrics = self.recorder
        return server


def test_a_worker_publishes_every_count_before_it_stops(loop_name: str) -> None:
    """A worker counts in its own memory and publishes in batches (on its ticker, and
    every PUBLISH_EVERY responses); the response it finishes while draining, after its
    stop was asked, is in the slot once it has stopped, with everything before it."""
    slots = SharedSlots(1)
    index = slots.assign()
    assert index is not None
    app = App()
    server = WorkerServer(app, loop_name, Recorder(slots.slot(index)))
    with server, app.gate:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
            assert reader.response().endswith(b"\r\n\r\napp:hi")
            sock.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
            app.gate.arrived()
            stopping = threading.Thread(target=server.stop)
            stopping.start()  # asks for the drain, then waits for the server to end
            app.gate.open()
            assert reader.response().endswith(b"\r\n\r\napp:")
        stopping.join(timeout=60)  # the client has closed: the server ends at once
        assert not stopping.is_alive()
    samples, _ = parse(render(slots.snapshot()).decode())
    assert value(samples, "ferry_requests_total", method="POST", status="200") == 1
    assert value(samples, "ferry_requests_total", method="GET", status="200") == 1
    assert value(samples, "ferry_request_duration_seconds_count") == 2
    assert value(samples, "ferry_connections_total") == 1
    assert value(samples, "ferry_keepalive_reuses_total") == 1
    assert value(samples, "ferry_request_bytes_total") == 2
    assert value(samples, "ferry_response_bytes_total") == 6 + 4
