"""Graceful shutdown: stop accepting, close idle connections, let the requests in flight
finish (each told ``Connection: close``), then run lifespan shutdown. In process through
``Server.should_exit``, and as ``ferry serve`` receiving SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

import pytest

from ferry.asgi import Receive, Scope, Send

from ..support import serving
from ._helpers import (
    FIXED_DATE,
    Gate,
    error_response,
    ferry_process,
    free_port,
    head,
    normalise_date,
    on_server_loop,
    open_connection,
    tcp_connector,
)

DATE = FIXED_DATE.decode().rstrip()


class Recorded:
    """An app whose requests wait at ``gate`` and whose lifespan is logged in ``events``."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.entered = Gate()  # always open: counts the requests that reached the app
        self.entered.open()
        self.events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await self.entered.wait()
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message["body"]
            if not message["more_body"]:
                break
        if scope["path"] != "/quick":
            await self.gate.wait()
        self.events.append(f"done {scope['path']}")
        answer = scope["path"].encode() + b" " + body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})


def closing(body: bytes) -> bytes:
    fields = (DATE, "Server: ferry", f"Content-Length: {len(body)}", "Connection: close")
    return head("HTTP/1.1 200 OK", *fields) + body


def test_graceful_shutdown_loses_no_request_in_flight(loop_name: str) -> None:
    app = Recorded()
    with serving(app, loop_name, graceful_timeout=10) as server, app.gate:
        port = server.port
        idle, idle_reader = open_connection(port)
        idle.sendall(b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle_reader.response().endswith(b"Content-Length: 7\r\n\r\n/quick ")
        in_flight = [open_connection(port) for _ in range(3)]
        for n, (sock, _) in enumerate(in_flight):
            sock.sendall(b"GET /wait%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
        uploading, upload_reader = open_connection(port)
        uploading.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
        app.entered.arrived(5)  # every connection is served: none is still being accepted
        app.gate.arrived(3)  # three apps wait; the fourth waits for its body

        stopper = threading.Thread(target=server.stop)
        stopper.start()
        # Shutdown has begun once the idle connection is closed (without a response, once
        # the second it gets for a next request is over).
        assert idle_reader.to_close() == b""
        # Not listening any more: refused (rarely reset, when the port's TIME_WAIT
        # connections answer the SYN first).
        with pytest.raises((ConnectionRefusedError, ConnectionResetError)):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        # The request still uploading gets to finish its body during the grace period.
        uploading.sendall(b"56789")
        app.gate.open()
        responses = [reader.to_close() for _, reader in in_flight]
        upload_response = upload_reader.to_close()
        stopper.join(10)
        for sock, _ in [*in_flight, (uploading, None), (idle, None)]:
            sock.close()
    assert not stopper.is_alive()
    assert responses == [closing(b"/wait%d " % n) for n in range(3)]
    assert upload_response == closing(b"/upload 0123456789")
    assert app.events[0] == "lifespan.startup"
    assert app.events[-1] == "lifespan.shutdown"  # after every request was done
    assert sorted(app.events[1:-1]) == ["done /quick", "done /upload"] + [
        f"done /wait{n}" for n in range(3)
    ]


def begin_shutdown(server: Any) -> None:
    """What the server does to its connections as shutdown begins, on its loop, at once
    (Server._shutdown, without the listener's part)."""

    def begin() -> None:
        state = server.server.state
        state.shutting_down = True
        for protocol in list(state.connections):
            protocol.shutdown()

    on_server_loop(server, begin)


def test_a_request_on_a_kept_alive_connection_as_shutdown_begins_is_answered(
    loop_name: str,
) -> None:
    # The client sends its next request as shutdown begins (or it was in the kernel's
    # buffer, unread): closing the idle connection at once would lose it, to a client
    # that does not retry. It is answered, saying the connection ends with it.
    app = Recorded()
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response().endswith(b"Content-Length: 7\r\n\r\n/quick ")
            begin_shutdown(server)
            sock.sendall(b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n")
            assert normalise_date(reader.to_close()) == closing(b"/quick ")


async def start_then_wait(scope: Scope, receive: Receive, send: Send) -> None:
    """/held: the response head and a first piece of its body at once (so the head is
    on the wire), the end once ``HELD`` opens; else the whole response at once."""
    if scope["type"] != "http":
        return
    body = scope["path"].encode() + b" "
    await send({"type": "http.response.start", "status": 200, "headers": []})
    if scope["path"] == "/held":
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await HELD.wait()
        body = b""
    await send({"type": "http.response.body", "body": body})


HELD = Gate()


def test_a_response_whose_head_said_keep_alive_before_shutdown_gets_one_more_request(
    loop_name: str,
) -> None:
    # The head went out without Connection: close; shutdown began before the body. The
    # client, told the connection stays, sends its next request as the body arrives.
    HELD.__init__()  # type: ignore[misc]
    with serving(start_then_wait, loop_name, lifespan="off") as server, HELD:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /held HTTP/1.1\r\nHost: t\r\n\r\n")
            HELD.arrived()
            begin_shutdown(server)
            HELD.open()
            first = reader.response()
            assert b"connection:" not in first.lower()
            assert first.endswith(b"\r\n\r\n6\r\n/held \r\n0\r\n\r\n")
            sock.sendall(b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n")
            assert normalise_date(reader.to_close()) == closing(b"/quick ")


def test_requests_past_the_grace_period_are_aborted(loop_name: str) -> None:
    app = Recorded()
    with serving(app, loop_name, graceful_timeout=0.5) as server, app.gate:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n")
            app.gate.arrived()
            server.stop()  # returns once the grace period is over and the app cancelled
            assert reader.to_close() == b""
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]  # the app never finished


def test_a_connection_accepted_as_shutdown_begins_is_served_once(loop_name: str) -> None:
    # The race this stands for: the kernel accepted the connection, shutdown() ran, and
    # only then did the loop make its protocol, which shutdown() never saw.
    app = Recorded()
    with serving(app, loop_name) as server:
        on_server_loop(server, lambda: setattr(server.server.state, "shutting_down", True))
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.to_close() == closing(b"/quick ")


def test_deadlines_hold_during_the_grace_period(loop_name: str) -> None:
    app = Recorded()
    with serving(app, loop_name, body_timeout=0.5, graceful_timeout=30) as server, app.gate:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST /stalled HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n012")
            app.entered.arrived()
            start = time.monotonic()
            server.stop()  # returns once the stalled request is over: a 408, not 30 s
            elapsed = time.monotonic() - start
            received = reader.to_close()
    assert received == error_response(408, "Request Timeout", "request body not received in time")
    assert elapsed < 5
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ferry_serve_shuts_down_gracefully_on_a_signal(loop_name: str, sig: signal.Signals) -> None:
    port = free_port()
    args = ["tests.server._apps:echo", "--port", str(port), "--loop", loop_name]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        idle, idle_reader = open_connection(port)
        idle.sendall(b"GET /idle HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle_reader.response().endswith(b"\r\n\r\nGET /idle: ")
        busy, busy_reader = open_connection(port)
        busy.sendall(
            b"PUT /busy HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        # The 100 says the app is running and waiting for the body: a request in flight.
        assert busy_reader.exactly(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        ferry.signal(sig)
        assert idle_reader.to_close() == b""  # shutdown has begun
        busy.sendall(b"data")
        response = busy_reader.to_close()
        code, out, err = ferry.finish()
        idle.close()
        busy.close()
    assert normalise_date(response) == closing(b"PUT /busy: data")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "lifespan startup"
    assert lines[-1] == "lifespan shutdown"
    assert [line.split('"')[1] for line in lines[1:-1]] == [
        "GET /idle HTTP/1.1",
        "PUT /busy HTTP/1.1",
    ]
    assert f"INFO: Ferry serving on http://127.0.0.1:{port} (Ctrl+C to stop)" in err.splitlines()
