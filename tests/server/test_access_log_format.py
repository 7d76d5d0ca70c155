"""``--access-log-format``: gunicorn's atoms compiled once into a line, ``json``, and the
startup errors for a format that cannot be compiled. Exact lines, atom by atom, then
through a real server on both loops."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

import pytest

from ferry import Config
from ferry._errors import ConfigError
from ferry.asgi import Receive, Scope, Send
from ferry.http1 import Request
from ferry.server import _access_log
from ferry.server._access_log import Exchange, compile_format

from ..support import exchange, log_lines, serving

BASIC = base64.b64encode(b"aladdin:open sesame").decode()
REQUEST = Request(
    method=b"POST",
    target=b"/a%20b/c?x=1&y=2",
    http_version="1.1",
    headers=[
        (b"host", b"t"),
        (b"referer", b"http://ref/"),
        (b"user-agent", b"probe/1"),
        (b"authorization", f"Basic {BASIC}".encode()),
        (b"x-trace", b"abc"),
    ],
    path=b"/a%20b/c",
    query=b"x=1&y=2",
)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_access_log, "clf_time", lambda: "10/Oct/2000:13:55:36 -0700")
    monkeypatch.setattr(_access_log, "iso_time", lambda: "2000-10-10T13:55:36.000-07:00")


def line(format: str, **changes: Any) -> str:
    values: dict[str, Any] = {
        "request": REQUEST,
        "client": ("203.0.113.7", 4000),
        "status": 201,
        "body_bytes": 1234,
        "duration": 2.0123456,
        "response_headers": [(b"Content-Type", b"text/plain"), (b"X-Served-By", b"ferry-1")],
    }
    values.update(changes)
    return compile_format(format)(Exchange(**values))


@pytest.mark.parametrize(
    ("atom", "value"),
    [
        ("h", "203.0.113.7"),
        ("l", "-"),
        ("u", "aladdin"),
        ("t", "[10/Oct/2000:13:55:36 -0700]"),
        ("r", "POST /a%20b/c?x=1&y=2 HTTP/1.1"),
        ("m", "POST"),
        ("U", "/a%20b/c"),
        ("q", "x=1&y=2"),
        ("H", "HTTP/1.1"),
        ("s", "201"),
        ("B", "1234"),
        ("b", "1234"),
        ("f", "http://ref/"),
        ("a", "probe/1"),
        ("T", "2"),
        ("M", "2012"),
        ("D", "2012345"),
        ("L", "2.012346"),
        ("p", f"<{os.getpid()}>"),
        ("{X-Trace}i", "abc"),
        ("{x-missing}i", "-"),
        ("{content-type}o", "text/plain"),
        ("{X-SERVED-BY}o", "ferry-1"),
        ("{server}o", "-"),
    ],
)
def test_each_atom(atom: str, value: str) -> None:
    assert line(f"<%({atom})s>") == f"<{value}>"


def test_gunicorns_default_format_and_literal_percent_signs() -> None:
    gunicorn = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    assert line(gunicorn + " 100%% %(D)sus") == (
        '203.0.113.7 - aladdin [10/Oct/2000:13:55:36 -0700] "POST /a%20b/c?x=1&y=2 HTTP/1.1" '
        '201 1234 "http://ref/" "probe/1" 100% 2012345us'
    )


@pytest.mark.parametrize(
    ("changes", "format", "value"),
    [
        ({"body_bytes": 0}, "%(b)s %(B)s", "- 0"),  # CLF: '-' for no body
        ({"client": None}, "%(h)s", "-"),  # a UNIX-socket client
        (
            {"request": Request(b"GET", b"/", "1.0", [])},
            "%(u)s %(f)s %(a)s %(H)s",
            "- - - HTTP/1.0",
        ),
    ],
)
def test_atoms_without_a_value(changes: dict[str, Any], format: str, value: str) -> None:
    assert line(format, **changes) == value


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer abc",
        b"Basic !!!",
        b"Basic " + base64.b64encode(b"\xff:x"),
        b"Basic " + base64.b64encode(b":pw"),
    ],
)
def test_user_is_a_dash_unless_basic_credentials_name_one(authorization: bytes) -> None:
    request = Request(b"GET", b"/", "1.1", [(b"authorization", authorization)])
    assert line("%(u)s", request=request) == "-"


@pytest.mark.parametrize(
    ("format", "message"),
    [
        ("%(h)s %(zz)s", "unknown atom %(zz)s"),
        ("%(h)s %(x-y)s", "unknown atom %(x-y)s"),
        ("%({REMOTE_ADDR}e)s", "%({REMOTE_ADDR}e)s: the {name}e atoms"),
        ("%(h)s 100%", "a '%' at position 9 starts no atom"),
        ("%(h)d", "a '%' at position 0 starts no atom"),
    ],
)
def test_a_format_that_cannot_compile_is_a_config_error(format: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(access_log_format=format)


# -- through a server -------------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-type", b"text/plain"), (b"x-served-by", b"app")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


def serve_one(loop_name: str, format: str, request: bytes) -> str:
    with (
        log_lines("ferry.access") as log,
        serving(app, loop_name, lifespan="off", access_log=True, access_log_format=format) as s,
    ):
        exchange(s.port, request)
        [logged] = log.wait(1)
    return logged


def test_a_server_writes_the_format(loop_name: str) -> None:
    request = (
        b"GET /p?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUser-Agent: probe/1\r\n"
        b"X-Forwarded-For: 203.0.113.7\r\nAuthorization: Basic " + BASIC.encode() + b"\r\n\r\n"
    )
    format = '%(h)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-served-by}o)s'
    assert serve_one(loop_name, format, request) == (
        '203.0.113.7 aladdin [10/Oct/2000:13:55:36 -0700] "GET /p?q=1 HTTP/1.1" 200 5 "-" '
        '"probe/1" app'
    )


def test_json_lines(loop_name: str) -> None:
    request = (
        b"GET /p?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUser-Agent: probe/1\r\n"
        b"Referer: http://ref/\r\nX-Request-ID: r-42\r\n\r\n"
    )
    record = json.loads(serve_one(loop_name, "json", request))
    duration = record.pop("duration")
    assert isinstance(duration, float)
    assert 0 <= duration < 10
    assert record == {
        "time": "2000-10-10T13:55:36.000-07:00",
        "client": "127.0.0.1",
        "method": "GET",
        "target": "/p?q=1",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 5,
        "user_agent": "probe/1",
        "referer": "http://ref/",
        "request_id": "r-42",
    }


def test_json_without_the_optional_fields(loop_name: str) -> None:
    record = json.loads(serve_one(loop_name, "json", b"GET / HTTP/1.0\r\n\r\n"))
    assert (record["user_agent"], record["referer"], record["protocol"]) == (None, None, "HTTP/1.0")
    assert "request_id" not in record
    assert list(record) == [
        "time", "client", "method", "target", "protocol", "status", "bytes", "duration",
        "user_agent", "referer",
    ]  # fmt: skip


def test_the_real_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the fixture's fixed clocks
    iso = _access_log.iso_time()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", iso)
    clf = _access_log.clf_time()
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}", clf)
    assert _access_log.clf_time() is clf or _access_log.clf_time() != clf  # cached per second
