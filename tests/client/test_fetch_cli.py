"""``ferry fetch`` over loopback: output bytes, exit statuses, and the trace."""

from __future__ import annotations

import argparse
import itertools
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from ferry import __version__
from ferry.client._fetch_cli import add_fetch_command, render_trace, run_fetch

from ..support import echo_app, serving
from .rawserver import ScriptedServer, read_head, wait_closed

REPLY = (
    b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=1.5, app;dur=2.25, miss\r\n"
    b"Content-Length: 5\r\n\r\nhello"
)


def fetch(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ferry")
    add_fetch_command(parser.add_subparsers(dest="command"))
    return run_fetch(parser.parse_args(["fetch", *argv]))


def replying(reply: bytes, *, keep_open: bool = True) -> ScriptedServer:
    def handler(sock: socket.socket, index: int) -> None:
        while read_head(sock):
            sock.sendall(reply)
            if not keep_open:
                sock.shutdown(socket.SHUT_WR)
        wait_closed(sock)

    return ScriptedServer(handler)


def test_body_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with replying(REPLY) as server:
        assert fetch(f"http://127.0.0.1:{server.port}/") == 0
    assert capsysbinary.readouterr().out == b"hello"


def test_include_prints_the_head_as_received(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with replying(REPLY) as server:
        assert fetch("-i", f"http://127.0.0.1:{server.port}/") == 0
    assert capsysbinary.readouterr().out == REPLY


def test_verbose_shows_both_heads(capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        assert fetch("-v", "-H", "X-Test: 1", f"http://127.0.0.1:{server.port}/p?q") == 0
        port = server.port
    assert capsys.readouterr().err == (
        f"> GET /p?q HTTP/1.1\n> Host: 127.0.0.1:{port}\n"
        f"> User-Agent: ferry/{__version__}\n"
        "> Accept: */*\n"
        "> X-Test: 1\n>\n"
        "< HTTP/1.1 200 OK\n< Server-Timing: db;dur=1.5, app;dur=2.25, miss\n"
        "< Content-Length: 5\n<\n"
    )


def test_data_from_a_file_to_an_output_file(tmp_path: Path) -> None:
    source, target = tmp_path / "in", tmp_path / "out"
    source.write_bytes(b"payload")
    with serving(echo_app) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert fetch("-X", "PUT", "-d", f"@{source}", "-o", str(target), url) == 0
    seen = json.loads(target.read_bytes())
    assert (seen["method"], seen["body"]) == ("PUT", "payload")


def unused_port() -> int:
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    listener.close()
    return port


@pytest.mark.parametrize(
    ("reply", "options", "status"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", [], 0),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", ["-f"], 22),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", [], 8),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", ["--timeout", "0.1"], 28),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx", [], 0),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx",
            ["--compressed"],
            61,
        ),
    ],
)
def test_exit_statuses(reply: bytes, options: list[str], status: int) -> None:
    with replying(reply) as server:
        assert fetch(*options, f"http://127.0.0.1:{server.port}/") == status


def test_exit_status_without_a_server() -> None:
    assert fetch(f"http://127.0.0.1:{unused_port()}/") == 7


@pytest.mark.parametrize(
    ("argv", "status"), [(["ftp://x/"], 1), (["-H", "no colon", "http://x/"], 3)]
)
def test_exit_status_for_a_bad_request(argv: list[str], status: int) -> None:
    assert fetch(*argv) == status


def trace(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert fetch("--trace", "--trace-json", *argv) == 0
    return json.loads(capsys.readouterr().out)


def test_trace_steps_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        report = trace(capsys, f"http://127.0.0.1:{server.port}/")
    steps = report["steps"]
    assert [step["step"] for step in steps] == [
        "dns",
        "connect",
        "request_sent",
        "first_byte",
        "head_received",
        "body_received",
    ]
    assert all(step["duration_ms"] >= 0 for step in steps)
    assert sum(step["duration_ms"] for step in steps) == pytest.approx(report["total_ms"])
    for before, after in itertools.pairwise(steps):
        assert after["start_ms"] == pytest.approx(before["start_ms"] + before["duration_ms"])
    assert report["server_timing"] == [
        {"name": "db", "duration_ms": 1.5},
        {"name": "app", "duration_ms": 2.25},
        {"name": "miss", "duration_ms": None},
    ]
    assert report["connection"] == "kept alive"


def test_trace_with_a_streamed_body(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(b"x" * 10)
    with serving(echo_app) as server:
        report = trace(capsys, "-d", f"@{tmp_path / 'body'}", f"http://127.0.0.1:{server.port}/")
    assert [step["step"] for step in report["steps"]][2:4] == ["request_sent", "first_byte"]


def test_repeat_reuses_the_connection(capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        reports = trace(capsys, "--repeat", "3", f"http://127.0.0.1:{server.port}/")
        assert server.accepted == 1
    names = [[step["step"] for step in report["steps"]] for report in reports]
    assert [n.count("connect") for n in names] == [1, 0, 0]
    assert [report["reused_connection"] for report in reports] == [False, True, True]
    assert names[1] == ["request_sent", "first_byte", "head_received", "body_received"]


def test_trace_closed_connection(capsys: pytest.CaptureFixture[str]) -> None:
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    with replying(reply, keep_open=False) as server:
        report = trace(capsys, f"http://127.0.0.1:{server.port}/")
    assert report["connection"] == "closed"


def test_trace_text(capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        assert fetch("--trace", "-o", "/dev/null", f"http://127.0.0.1:{server.port}/") == 0
        port = server.port
    text = capsys.readouterr().err
    lines = text.splitlines()
    assert lines[0] == f"GET http://127.0.0.1:{port}/ -> 200"
    steps = [line[2:28].strip() for line in lines[1:] if line[2:3] not in (" ", "")]
    assert steps == [
        "DNS lookup",
        "TCP connect",
        "request sent",
        "waiting (first byte)",
        "response head received",
        "response body received",
        "total",
        "connection kept alive",
    ]
    assert lines.index("    server: db                     1.500 ms") == 5
    assert text.endswith("  connection kept alive\n\n")


def test_render_trace_of_a_reused_connection() -> None:
    report = {
        "method": "GET",
        "url": "http://h/",
        "status": 200,
        "reused_connection": True,
        "steps": [{"step": "request_sent", "start_ms": 0.0, "duration_ms": 2.0}],
        "total_ms": 2.0,
        "server_timing": [],
        "connection": "closed",
    }
    assert render_trace(report) == (
        "GET http://h/ -> 200\n"
        "  (connection reused: no DNS, connect or TLS)\n"
        "  request sent                   2.000 ms  |########################################|\n"
        "  total                          2.000 ms\n"
        "  connection closed\n\n"
    )


def test_location_follows_redirects(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    def handler(sock: socket.socket, index: int) -> None:
        while head := read_head(sock):
            if head.startswith(b"GET /old "):
                sock.sendall(b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew")

    with ScriptedServer(handler) as server:
        url = f"http://127.0.0.1:{server.port}/old"
        assert fetch(url) == 0
        assert capsysbinary.readouterr().out == b""
        assert fetch("-L", url) == 0
        assert capsysbinary.readouterr().out == b"new"


MOVED = b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"
NEW = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"


def redirecting(sock: socket.socket, index: int) -> None:
    while head := read_head(sock):
        sock.sendall(MOVED if head.startswith(b"GET /old ") else NEW)


def test_location_with_include_shows_each_hop(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Defect 4: -L -i showed the first hop's head above the final body."""
    with ScriptedServer(redirecting) as server:
        assert fetch("-L", "-i", f"http://127.0.0.1:{server.port}/old") == 0
    assert capsysbinary.readouterr().out == MOVED + NEW


def test_location_with_verbose_shows_each_hop(capsys: pytest.CaptureFixture[str]) -> None:
    """Defect 4: -L -v showed only the first exchange."""
    with ScriptedServer(redirecting) as server:
        assert fetch("-L", "-v", f"http://127.0.0.1:{server.port}/old") == 0
        port = server.port
    request = f"> Host: 127.0.0.1:{port}\n> User-Agent: ferry/{__version__}\n> Accept: */*\n>\n"
    assert capsys.readouterr().err == (
        f"> GET /old HTTP/1.1\n{request}"
        "< HTTP/1.1 301 Moved\n< Location: /new\n< Content-Length: 0\n<\n"
        f"> GET /new HTTP/1.1\n{request}"
        "< HTTP/1.1 200 OK\n< Content-Length: 3\n<\n"
    )
