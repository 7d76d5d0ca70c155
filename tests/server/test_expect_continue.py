"""``Expect: 100-continue`` (RFC 9110 §10.1.1): the interim 100 is sent when, and only when,
the application first asks for the request body."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ferry.asgi import ASGIApp, Receive, Scope, Send

from ..support import serving
from ._helpers import (
    FIXED_DATE,
    Gate,
    body_echo,
    head,
    nothing_arrives,
    open_connection,
    read_body,
    run_curl,
    text_response,
)

DATE = FIXED_DATE.decode().rstrip()
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EXPECTING = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


def echoed(body: bytes, *tail: str) -> bytes:
    fields = (DATE, "Server: ferry", f"Content-Length: {len(body)}")
    return head("HTTP/1.1 200 OK", *fields, *tail) + body


def gated_echo(gate: Gate) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await gate.wait()
        await body_echo(scope, receive, send)

    return app


def test_continue_is_sent_when_the_app_first_receives(loop_name: str) -> None:
    gate = Gate()
    with serving(gated_echo(gate), loop_name) as server, gate:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(EXPECTING)
            gate.arrived()  # the app runs, and has not asked for the body yet
            assert nothing_arrives(sock, 0.3)
            sock.settimeout(5)
            gate.open()
            assert reader.exactly(len(CONTINUE)) == CONTINUE
            sock.sendall(b"hello")
            assert reader.response() == echoed(b"hello")


def test_continue_is_sent_once_for_a_body_read_in_pieces(loop_name: str) -> None:
    with serving(body_echo, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(EXPECTING)
            assert reader.exactly(len(CONTINUE)) == CONTINUE
            sock.sendall(b"he")
            sock.sendall(b"llo")
            # Then a second request, also expecting: it gets its own 100.
            sock.sendall(EXPECTING)
            assert reader.response() == echoed(b"hello")
            assert reader.exactly(len(CONTINUE)) == CONTINUE
            sock.sendall(b"again")
            assert reader.response() == echoed(b"again")


def test_an_app_that_answers_without_reading_gets_no_continue_and_closes(
    loop_name: str,
) -> None:
    app = text_response(body=b"no thanks")
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(EXPECTING)
            received = reader.to_close()  # the server closes: the body was never asked for
    assert received == head(
        "HTTP/1.1 200 OK",
        "content-type: text/plain",
        DATE,
        "Server: ferry",
        "Content-Length: 9",
        "Connection: close",
    ) + (b"no thanks")


def test_a_client_waiting_for_continue_is_not_timed_out(loop_name: str) -> None:
    # The body deadline runs only once the client has been asked for the body: a client
    # holding its body back for a 100 that was never sent has broken no deadline.
    gate = Gate()
    with serving(gated_echo(gate), loop_name, body_timeout=0.5) as server, gate:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(EXPECTING)
            gate.arrived()
            assert nothing_arrives(sock, 1.3)  # past the deadline and a tick: no 408
            sock.settimeout(5)
            gate.open()
            assert reader.exactly(len(CONTINUE)) == CONTINUE
            sock.sendall(b"hello")
            assert reader.response() == echoed(b"hello")


def test_body_timeout_runs_once_continue_was_sent(loop_name: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)  # gets http.disconnect after the 408

    with serving(app, loop_name, body_timeout=0.5) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(EXPECTING)
            assert reader.exactly(len(CONTINUE)) == CONTINUE
            sock.sendall(b"he")  # and then nothing
            assert reader.to_close() == _timeout_response()


def _timeout_response() -> bytes:
    body = b"408 Request Timeout: request body not received in time\n"
    return (
        head(
            "HTTP/1.1 408 Request Timeout",
            "content-type: text/plain; charset=utf-8",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
            "Connection: close",
        )
        + body
    )


def test_curl_upload_with_expect_continue(loop_name: str, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 400  # 100 KiB
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)

    async def digest_app(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        digest = hashlib.sha256(body).hexdigest().encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": digest})

    with serving(digest_app, loop_name) as server:
        result = run_curl(
            "-v",
            "--expect100-timeout",
            "20",  # curl would send the body anyway after 1 s: make it wait for the 100
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            f"@{upload}",
            f"http://127.0.0.1:{server.port}/upload",
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(payload).hexdigest().encode()
    trace = result.stderr.decode()
    assert "> Expect: 100-continue\r\n" in trace
    assert "< HTTP/1.1 100 Continue\r\n" in trace
    assert "< HTTP/1.1 200 OK\r\n" in trace
