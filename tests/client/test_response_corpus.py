"""The shared response corpus (``../shared/corpus/*/response_cases.jsonl``) against the
client engine, over real loopback sockets.

Each case's bytes are served by a raw socket server; a blocking loop drives a
``ClientConnection`` for one ``GET``. Verdicts:

* accept: the 1xx and final response heads parse, with the statuses in the bytes; the
  body is read to its end, or to the EOF where the case's bytes stop inside it;
* reject: ``RemoteProtocolError``, and nothing else;
* incomplete: with the connection held open, the bounded read times out (no hang, no
  verdict yet); once the server closes, ``RemoteProtocolError``.

Where Ferry is stricter (or, once, more lenient) than the source parser, the case id is
listed in ``DEVIATIONS`` with the reason; docs/client.md repeats the list.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from ferry import RemoteProtocolError
from ferry.http1 import (
    NEED_DATA,
    ClientConnection,
    Data,
    EndOfMessage,
    InformationalResponse,
    Response,
)

from .rawserver import RawServer

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
READ_TIMEOUT = 0.25
"""Seconds an incomplete case waits before we call it "no verdict yet": the one time-based
wait here. Over a socket, the absence of bytes can only be observed for a bounded time."""

DEVIATIONS: dict[str, tuple[str, str]] = {
    # id: (our verdict, why)
    "llhttp/response/finish.md:L9": (
        "accept",
        "a close-delimited body ended by EOF is a complete response (RFC 9112 §6.3 (8))",
    ),
    "llhttp/response/connection.md:L296": ("reject", "101 without an Upgrade request"),
    "llhttp/response/connection.md:L334": ("reject", "101 without an Upgrade request"),
    "llhttp/response/sample.md:L43": ("reject", "RTSP is not HTTP"),
    "llhttp/response/sample.md:L63": ("reject", "ICE is not HTTP"),
    "llhttp/response/sample.md:L648": ("reject", "HTTP/0.9 has no status line"),
    "llhttp/response/transfer-encoding.md:L46": ("reject", "a transfer coding we cannot decode"),
    "llhttp/response/transfer-encoding.md:L77": ("reject", "identity is not a transfer coding"),
    "llhttp/response/transfer-encoding.md:L115": ("reject", "unknown transfer coding"),
    "picohttpparser/response/L199": ("reject", "obs-fold (RFC 9112 §5.2: reject or unfold)"),
    "picohttpparser/response/L234": ("reject", "bare LF (RFC 9112 §2.2: MAY accept)"),
    "picohttpparser/response/L260": ("reject", "several SP between status-line parts"),
}


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CORPUS.glob("*/response_cases.jsonl")):
        for line in path.read_text().splitlines():
            case = json.loads(line)
            cases.append(pytest.param(case, id=case["id"]))
    return cases


def expected_verdict(case: dict[str, Any]) -> str:
    if case["id"] in DEVIATIONS:
        return DEVIATIONS[case["id"]][0]
    mode = case.get("llhttp_mode") or "response"
    if mode.startswith("response-lenient") and mode not in (
        "response-lenient-data-after-close",
        "response-lenient-keep-alive",
    ):
        return "reject"  # llhttp accepts it only with a leniency flag; we are strict
    return str(case["expect"])


def read_response(sock: socket.socket, conn: ClientConnection) -> tuple[list[int], Response]:
    """Drive ``conn`` over ``sock`` to the end of one response: (1xx statuses, head)."""
    informational: list[int] = []
    response: Response | None = None
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            data = sock.recv(65536)
            if data:
                conn.receive_data(data)
            else:
                conn.receive_eof()
        elif type(event) is InformationalResponse:
            informational.append(event.status)
        elif type(event) is Response:
            response = event
        elif type(event) is EndOfMessage:
            assert response is not None
            return informational, response
        else:
            assert type(event) is Data


def exchange(port: int) -> tuple[ClientConnection, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(READ_TIMEOUT)
    conn = ClientConnection()
    sock.sendall(conn.send_request(b"GET", b"/", [(b"Host", b"127.0.0.1")], end=True))
    return conn, sock


@pytest.mark.parametrize("case", _cases())
def test_response_case(case: dict[str, Any]) -> None:
    raw = base64.b64decode(case["response_b64"])
    verdict = expected_verdict(case)
    incomplete = verdict == "incomplete"
    with RawServer(raw, eof=not incomplete) as server:
        conn, sock = exchange(server.port)
        with sock:
            if verdict == "accept":
                check_accepted(conn, sock, raw)
            elif verdict == "reject":
                with pytest.raises(RemoteProtocolError):
                    read_response(sock, conn)
            else:
                with pytest.raises(TimeoutError):
                    read_response(sock, conn)
                sock.shutdown(socket.SHUT_WR)  # the server now closes: EOF inside the head
                with pytest.raises(RemoteProtocolError):
                    read_response(sock, conn)


def check_accepted(conn: ClientConnection, sock: socket.socket, raw: bytes) -> None:
    statuses = [int(s) for s in re.findall(rb"(?:^|\n)HTTP/1\.[01] ([0-9]{3})", raw)]
    final = next(i for i, status in enumerate(statuses) if status >= 200)
    try:
        informational, response = read_response(sock, conn)
    except RemoteProtocolError as exc:
        error = str(exc)
    else:
        assert informational == statuses[:final]
        assert response.status == statuses[final]
        return
    # Only the body may be cut short (several sources' bytes end inside the body, and the
    # source's test stops there): the head must have been accepted.
    assert conn.response is not None, error
    assert conn.response.status == statuses[final]
    assert error.startswith("connection closed"), error


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus not found at {CORPUS}")
def test_deviations_name_real_cases() -> None:
    ids = {p.values[0]["id"] for p in _cases()}
    assert set(DEVIATIONS) <= ids
