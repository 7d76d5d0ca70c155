"""The shared HTTP/1.1 conformance corpus, run against a real Ferry server over loopback.

Every request case in ``../shared/corpus/*/cases.jsonl`` is written to a fresh connection
to a Ferry server that serves ``echo_app``, following the corpus README ("Suggested harness
semantics"), and judged in one of two ways:

* cases with strictness ``must`` or ``should``, and ``accept`` cases with strictness null,
  are scored: Ferry must reach the README's verdict;
* ``may`` and ``impl`` cases are behaviour the RFCs leave to us: Ferry's outcome must be
  exactly the one the table in docs/rfc-choices.md documents for that case id.

Outcomes are written as the statuses received, in order (``200``, ``200, 400``), or
``wait`` (no byte, connection left open) or ``close`` (closed without a response); "at EOF"
is added when the server answered only once we half-closed.

Run ``python -m tests.test_corpus`` to print the documented-choices table from a live run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .support import ServerThread, connect, echo_app

REPO = Path(__file__).resolve().parents[1]
# CI clones the repository with shared/ beside it: the corpus is ../shared/corpus.
CORPUS = REPO.parent / "shared" / "corpus"
CHOICES_DOC = REPO / "docs" / "rfc-choices.md"

READ_TIMEOUT = 2.0
"""Seconds a read may block while a byte is owed to us: only a failing case waits this."""

QUIET = 0.3
"""Seconds of silence that stand for "no response" when no response is the right answer.

This is the one time-based wait in the suite. When the input is an incomplete request
(or bytes left after an ignored Upgrade), a correct server sends nothing and keeps the
connection open, and over a socket the absence of a response can only be observed for a
bounded time. Half-closing instead would turn the case into a different one (EOF inside a
message, which must be rejected). The server runs on loopback, so a response that was
going to come would arrive within milliseconds.
"""

SCORED = ("must", "should")  # and accept cases with strictness null; may/impl: the doc
INCOMPLETE = frozenset({"incomplete_head", "incomplete_body", "incomplete_reqline"})
MAY_CLOSE_EARLY = frozenset({"must_close_after_response", "data_after_close", "http10_keep_alive"})
ERROR_STATUSES = frozenset(range(400, 500)) | {501, 505}
"""What counts as rejecting a request (README, harness semantics 3: "a 4xx (normally 400;
414/431/413/501/505 also count)")."""

UVLOOP_SAMPLE = [
    "gunicorn/valid/099",  # incomplete body: wait
    "gunicorn/invalid/rfc9112_smuggle_cl_te_chunked_01",  # TE + CL
    "h11/cl-body-truncated-by-eof",  # requires_eof
    "llhttp/request/invalid.md:L458",  # smuggled GET /admin behind a bare LF
    "llhttp/request/connection.md:L159",  # pipelined, then an incomplete request line
    "llhttp/request/connection.md:L756",  # ignored Upgrade, trailing bytes sit
    "picohttpparser/chunked-trailer/L445",  # chunked body with trailers
]


# -- the corpus and the documented choices ------------------------------------------


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*/cases.jsonl")):
        with path.open(encoding="utf-8") as lines:
            cases.extend(json.loads(line) for line in lines if line.strip())
    return cases


def is_scored(case: dict[str, Any]) -> bool:
    strictness = case["strictness"]
    return strictness in SCORED or (strictness is None and case["expect"] == "accept")


_ROW = re.compile(r"^\|\s*`(?P<id>[^`]+)`\s*\|.*\|\s*(?P<outcome>[^|]+?)\s*\|\s*$")


def load_documented_outcomes() -> dict[str, str]:
    """Case id -> Ferry's outcome, from the table rows of docs/rfc-choices.md."""
    outcomes: dict[str, str] = {}
    for line in CHOICES_DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            outcomes[match["id"]] = match["outcome"].strip("`")
    return outcomes


CASES = load_cases() if CORPUS.is_dir() else []
CASES_BY_ID = {case["id"]: case for case in CASES}

if not CASES:
    pytest.skip(
        f"conformance corpus not found at {CORPUS} (CI clones it beside the repository)",
        allow_module_level=True,
    )


# -- reading responses ----------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        return b", ".join(values) if values else None


@dataclass
class Transcript:
    """What the server sent back on one connection."""

    responses: list[Response] = field(default_factory=list)
    informational: list[Response] = field(default_factory=list)
    closed: bool = False  # the server closed (or reset) the connection
    waited: bool = False  # we stopped reading after QUIET seconds without a byte
    garbage: bytes = b""  # bytes that did not parse as a response
    at_eof: bool = False  # we half-closed after a QUIET wait to see the error

    @property
    def outcome(self) -> str:
        text = ", ".join(str(r.status) for r in self.responses)
        if not text:
            text = "close" if self.closed else "wait"
        return f"{text} at EOF" if self.at_eof else text


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) [\t\x20-\x7e\x80-\xff]*")


class ResponseReader:
    """Parses responses off a socket as they arrive (Content-Length framing only).

    ``methods[k]`` is the method of the k-th request, to know which responses have no body.
    """

    def __init__(self, sock: socket.socket, methods: list[str]) -> None:
        self.sock = sock
        self.methods = methods
        self.buf = b""
        self.transcript = Transcript()

    def _fill(self, timeout: float) -> bool:
        """Receive once; False if ``timeout`` passed without a byte."""
        if self.transcript.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.transcript.closed = True
        self.buf += data
        return True

    def next_response(self, timeout: float) -> Response | None:
        """The next final response; None if the server closed or went quiet first."""
        while True:
            response = self._parse()
            if response is not None:
                return response
            if not self._fill(timeout):
                if self.buf:  # part of a response, and then a close or silence
                    self.transcript.garbage += self.buf
                    self.buf = b""
                else:
                    self.transcript.waited = not self.transcript.closed
                return None

    def read_to_close(self, timeout: float) -> None:
        """Read every response until the server closes or stays quiet for ``timeout``."""
        while self.next_response(timeout) is not None:
            pass

    def _parse(self) -> Response | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = self.buf[:end].split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        assert match is not None, f"not a status line: {lines[0]!r}"
        status = int(match[1])
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon, f"response field line without a colon: {line!r}"
            assert name == name.strip(), f"whitespace around a response field name: {line!r}"
            headers.append((name.lower(), value.strip(b" \t")))
        response = Response(status, headers, b"")
        index = len(self.transcript.responses)
        head_request = index < len(self.methods) and self.methods[index] == "HEAD"
        length = int(response.header(b"content-length") or b"0")
        assert response.header(b"transfer-encoding") is None, "unexpected chunked response"
        rest = self.buf[end + 4 :]
        if status < 200:
            self.transcript.informational.append(response)
            self.buf = rest
            return self._parse()
        if status in (204, 304) or (head_request and status < 400):
            length = 0
        elif head_request:
            # An error found before the method was known carries its body even for HEAD;
            # one found later does not. The connection closes after it: wait for that.
            if not self.transcript.closed:
                return None
            if not rest:
                length = 0
        if len(rest) < length:
            return None
        response.body = rest[:length]
        self.buf = rest[length:]
        self.transcript.responses.append(response)
        return response


# -- running one case -------------------------------------------------------------------


def request_methods(case: dict[str, Any]) -> list[str]:
    messages = case.get("messages") or ([case] if case.get("method") else [])
    return [str(message["method"]) for message in messages]


def segments(case: dict[str, Any]) -> list[bytes]:
    """The writes to make, in order (README §1: ``steps`` / ``segments_b64``)."""
    parts = case.get("segments_b64") or case.get("steps")
    if not parts:
        return [base64.b64decode(case["request_b64"])]
    assert all(isinstance(part, str) for part in parts), f"unknown steps format: {parts!r}"
    return [base64.b64decode(part) for part in parts]


def waiting_is_an_answer(case: dict[str, Any]) -> bool:
    """Whether "no (further) response, connection open" can be a right outcome."""
    flags = set(case["flags"])
    return (
        bool(flags & INCOMPLETE)
        or "upgrade_request" in flags
        or case["complete_requests"] == 0
        or not is_scored(case)
    )


def run_case(port: int, case: dict[str, Any]) -> Transcript:
    """Send the case's bytes on a new connection and read what comes back.

    Accept cases made only of complete requests are half-closed after writing, so the
    server's close ends the exchange and an extra (smuggled) response cannot hide.
    Other cases are not half-closed at first: an error must show without it. Where waiting
    is a possible answer (see ``waiting_is_an_answer``) the read stops after QUIET seconds
    of silence; then, if the README lets us (``requires_eof``, or an incomplete reject
    case), we half-close and read on: the outcome is then marked "at EOF".
    """
    flags = set(case["flags"])
    half_close = (
        case["expect"] == "accept"
        and case["complete_requests"] > 0
        and not flags & INCOMPLETE
        and "upgrade_request" not in flags
    )
    eof_later = case["expect"] == "reject" and (
        bool(case.get("requires_eof")) or bool(flags & INCOMPLETE)
    )
    quiet = QUIET if (waiting_is_an_answer(case) or eof_later) else READ_TIMEOUT
    with connect(port, READ_TIMEOUT) as sock:
        reader = ResponseReader(sock, request_methods(case))
        *steps, last = segments(case)
        for step in steps:
            _send(sock, step)
            reader.next_response(READ_TIMEOUT)  # README: wait for the response between steps
        _send(sock, last)
        if half_close:
            _shut(sock)
        expected = case["complete_requests"] if case["expect"] == "accept" else 0
        while len(reader.transcript.responses) < expected:
            if reader.next_response(READ_TIMEOUT) is None:
                break
        reader.read_to_close(READ_TIMEOUT if half_close else quiet)
        if eof_later and not reader.transcript.closed:
            reader.transcript.at_eof = True
            _shut(sock)
            reader.read_to_close(READ_TIMEOUT)
    return reader.transcript


def _send(sock: socket.socket, data: bytes) -> None:
    # The server may already have answered an error and closed: that is an outcome too.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


# -- judging ------------------------------------------------------------------------------


def _expected_origin(target: str) -> tuple[str, str]:
    """(raw_path, query_string) the echo app should see for a request-target."""
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?]*", target)
    if match:  # absolute-form: the path and query only (RFC 9112 §3.2.2)
        target = target[match.end() :]
        target = target if target.startswith("/") else "/" + target
    path, _, query = target.partition("?")
    return path, query


def check_echo(case: dict[str, Any], index: int, response: Response) -> None:
    """The k-th normal response echoes the k-th request the analyzer framed."""
    messages = case.get("messages") or [case]
    if index >= len(messages) or not messages[index].get("method"):
        return
    message = messages[index]
    if message["method"] == "HEAD":
        return  # no body to read the echo from
    echo = json.loads(response.body)
    assert echo["method"] == message["method"], f"response {index} is for another request"
    if _clipped(message["target"]):
        assert (echo["raw_path"] + "?" + echo["query_string"]).startswith(message["target"])
    else:
        raw_path, query = _expected_origin(message["target"])
        assert (echo["raw_path"], echo["query_string"]) == (raw_path, query)
    body = base64.b64decode(message.get("body_b64") or "").decode("latin-1")
    assert echo["body"] == body, f"request {index}: body framed differently"
    expected = message.get("headers", [])
    got = echo["headers"][: len(expected)] if case.get("headers_truncated") else echo["headers"]
    assert len(got) == len(expected), f"request {index}: {len(got)} fields, not {len(expected)}"
    for (name, value), (want_name, want_value) in zip(got, expected, strict=True):
        assert name == want_name.lower(), f"request {index}: fields parsed differently"
        if _clipped(want_value):
            assert value.startswith(want_value), f"request {index}: {name} parsed differently"
        else:
            assert value == want_value, f"request {index}: {name} parsed differently"


def _clipped(text: str) -> bool:
    """The corpus clips long strings (targets, field values) to 512 characters."""
    return len(text) == CLIP


CLIP = 512


def check_accept(case: dict[str, Any], transcript: Transcript) -> None:
    flags = set(case["flags"])
    allowed = set(case.get("also_ok_status") or ())
    if "connect" in flags:
        allowed |= {405, 501}  # README §4: CONNECT to an origin server, 405/501 are fine
    assert not transcript.garbage, f"unparseable bytes: {transcript.garbage!r}"
    responses = transcript.responses
    count = case["complete_requests"]
    if flags & MAY_CLOSE_EARLY and transcript.closed:
        assert 1 <= len(responses) <= count or count == 0
    elif allowed & {r.status for r in responses}:
        # An also-ok status (501 for gzip, CONNECT) answers the request and closes.
        assert len(responses) <= count
        assert transcript.closed
    else:
        assert len(responses) == count, f"{len(responses)} responses for {count} requests"
    if count == 0 or flags & INCOMPLETE:
        # An incomplete tail (or a lone empty line): nothing may answer it, and the
        # connection stays open.
        assert transcript.waited, "the server answered or closed on incomplete input"
    for index, response in enumerate(responses):
        # The echo app answers 200: any other status is Ferry refusing a valid request
        # (stricter than the README's "no 400 or 5xx", which allows an app's own 4xx).
        if response.status in allowed:
            continue
        assert response.status == 200, f"request {index} answered {response.status}"
        check_echo(case, index, response)
    if "must_close_after_response" in flags and responses:
        assert responses[-1].header(b"connection") == b"close"


def check_reject(case: dict[str, Any], transcript: Transcript) -> None:
    flags = set(case["flags"])
    assert not transcript.garbage, f"unparseable bytes: {transcript.garbage!r}"
    before = case["responses_before_error"] or 0
    responses = transcript.responses
    normal = [r for r in responses if r.status < 400]
    errors = responses[len(normal) :]
    assert normal == responses[: len(normal)], "a normal response after the error"
    for index, response in enumerate(normal):
        assert response.status == 200, f"request {index} answered {response.status}"
        check_echo(case, index, response)
    # Counting responses is the smuggling check: one more normal response means desync.
    assert len(normal) <= before, f"{len(normal)} normal responses, {before} expected"
    assert transcript.closed, "the connection is still open after the bad request"
    if len(normal) < before:
        # Only a server that may close after a response (1.0, Connection: close) stops early.
        assert flags & MAY_CLOSE_EARLY, "a valid request was refused"
        assert not errors
        return
    assert len(errors) <= 1, "more than one error response"
    if errors:
        assert errors[0].status in ERROR_STATUSES, f"rejected with {errors[0].status}"


# -- the tests ------------------------------------------------------------------------------


def _serve(loop: str) -> Iterator[int]:
    with ServerThread(echo_app, loop) as server:
        yield server.port


@pytest.fixture(scope="module")
def asyncio_port() -> Iterator[int]:
    """One Ferry server (defaults, asyncio) for the whole corpus."""
    yield from _serve("asyncio")


@pytest.fixture(scope="module")
def uvloop_port() -> Iterator[int]:
    yield from _serve("uvloop")


@pytest.fixture(scope="module")
def documented() -> dict[str, str]:
    return load_documented_outcomes()


def judge(case: dict[str, Any], transcript: Transcript, documented: dict[str, str]) -> None:
    if is_scored(case):
        if case["expect"] == "accept":
            check_accept(case, transcript)
        else:
            check_reject(case, transcript)
        return
    assert not transcript.garbage, f"unparseable bytes: {transcript.garbage!r}"
    for index, response in enumerate(transcript.responses):
        if response.status == 200:
            check_echo(case, index, response)
    if transcript.responses and transcript.responses[-1].status >= 400:
        assert transcript.closed, "the connection is still open after an error response"
    assert transcript.outcome == documented.get(case["id"]), (
        "outcome differs from docs/rfc-choices.md"
    )


@pytest.mark.parametrize("case_id", list(CASES_BY_ID))
def test_corpus_case(case_id: str, asyncio_port: int, documented: dict[str, str]) -> None:
    case = CASES_BY_ID[case_id]
    judge(case, run_case(asyncio_port, case), documented)


@pytest.mark.parametrize("case_id", UVLOOP_SAMPLE)
def test_corpus_case_on_uvloop(case_id: str, uvloop_port: int, documented: dict[str, str]) -> None:
    case = CASES_BY_ID[case_id]
    judge(case, run_case(uvloop_port, case), documented)


def test_every_documented_case_is_in_the_table(documented: dict[str, str]) -> None:
    """The table in docs/rfc-choices.md lists exactly the corpus's may and impl cases."""
    wanted = {case["id"] for case in CASES if not is_scored(case)}
    assert set(documented) == wanted


# -- the harness itself --------------------------------------------------------------------


def fake_case(expect: str, data: bytes, **fields: Any) -> dict[str, Any]:
    """A corpus record for ``data`` (a GET per request unless told otherwise)."""
    case: dict[str, Any] = {
        "id": "fake",
        "expect": expect,
        "strictness": "must" if expect == "reject" else None,
        "flags": [],
        "request_b64": base64.b64encode(data).decode(),
        "complete_requests": 1,
        "responses_before_error": 0 if expect == "reject" else None,
        "method": "GET",
        "target": "/",
        "headers": [["Host", "h"]],
    }
    case.update(fields)
    return case


GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


def test_harness_catches_a_smuggled_response(asyncio_port: int) -> None:
    """One normal response more than ``responses_before_error`` fails a reject case."""
    # (strictness "may": the read then stops after QUIET seconds, not READ_TIMEOUT)
    case = fake_case("reject", GET + GET, complete_requests=2, strictness="may")
    transcript = run_case(asyncio_port, case)
    assert [r.status for r in transcript.responses] == [200, 200]
    assert transcript.waited  # both answered, and the connection left open
    with pytest.raises(AssertionError, match="normal responses"):
        check_reject(case, transcript)


def test_harness_catches_a_wrong_echo(asyncio_port: int) -> None:
    case = fake_case("accept", GET, target="/other")
    with pytest.raises(AssertionError):
        check_accept(case, run_case(asyncio_port, case))


def test_harness_writes_steps_and_waits_between_them(asyncio_port: int) -> None:
    head = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
    steps = [base64.b64encode(part).decode() for part in (head, GET)]
    messages = [{"method": "HEAD", "target": "/"}, {"method": "GET", "target": "/"}]
    case = fake_case("accept", head + GET, steps=steps, messages=messages, complete_requests=2)
    transcript = run_case(asyncio_port, case)
    assert [r.status for r in transcript.responses] == [200, 200]
    assert transcript.responses[0].body == b""  # HEAD: a Content-Length, no body
    assert transcript.responses[0].header(b"content-length") != b"0"
    assert json.loads(transcript.responses[1].body)["method"] == "GET"
    assert transcript.closed


# -- the table for docs/rfc-choices.md ------------------------------------------------------


def _table() -> str:
    rows = ["| case | expect | strictness | issue | Ferry |", "|---|---|---|---|---|"]
    with ServerThread(echo_app) as server:
        for case in CASES:
            if is_scored(case):
                continue
            issue = ", ".join(case["reasons"][:2] + sorted(set(case["flags"]) & INCOMPLETE))
            if case.get("requires_eof"):
                issue += ", requires_eof"
            issue = issue.strip(", ") or f"source: {case['source_detail']}"
            outcome = run_case(server.port, case).outcome
            rows.append(
                f"| `{case['id']}` | {case['expect']} | {case['strictness']} "
                f"| {issue} | {outcome} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(_table() + "\n")
