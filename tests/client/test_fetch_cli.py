"""``ferry fetch`` over loopback: output bytes, exit statuses, and the trace."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from ferry import __version__
from ferry.client._fetch_cli import add_fetch_command, render_trace, run_fetch
from ferry.client._fetch_options import file_size
from ferry.client._tls import read_handshake

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


def test_render_trace_of_a_handshake_without_alpn() -> None:
    tls = {"version": "TLSv1.2", "cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "alpn": None}
    report = {
        "method": "GET",
        "url": "https://h/",
        "status": 200,
        "reused_connection": False,
        "steps": [{"step": "tls", "start_ms": 0.0, "duration_ms": 2.0, "tls": tls}],
        "total_ms": 2.0,
        "server_timing": [],
        "connection": "closed",
    }
    assert render_trace(report) == (
        "GET https://h/ -> 200\n"
        "  TLS handshake                  2.000 ms  |########################################|\n"
        "    TLSv1.2, cipher ECDHE-ECDSA-AES128-GCM-SHA256, no ALPN\n"
        "  total                          2.000 ms\n"
        "  connection closed\n\n"
    )
    assert read_handshake(b"TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 -") == tls
    assert read_handshake(b"") == {"version": None, "cipher": None, "alpn": None}


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


# -- curl's options, the edges (side by side with curl: test_fetch_curl.py) ------------


def test_header_file_dump_header_and_write_out_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "headers").write_text("X-A: 1\n\nX-B: 2\n")
    (tmp_path / "format").write_text("%{stderr}%{http_code}%{stdout}[%{size_header}]")
    with serving(echo_app) as server:
        url = f"http://127.0.0.1:{server.port}/"
        argv = ["-H", f"@{tmp_path / 'headers'}", "-D", str(tmp_path / "head")]
        assert fetch(*argv, "-w", f"@{tmp_path / 'format'}", url) == 0
    out, err = capsys.readouterr()
    body, _, written = out.rpartition("}")
    headers = json.loads(body + "}")["headers"]
    assert [pair for pair in headers if pair[0].startswith("x-")] == [["x-a", "1"], ["x-b", "2"]]
    head = (tmp_path / "head").read_bytes()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert (written, err) == (f"[{len(head)}]", "200")


def test_unknown_write_out_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        assert fetch("-w", "%{nope}%{http_code}", f"127.0.0.1:{server.port}/") == 0
    assert capsys.readouterr() == (
        "hello200",
        "ferry fetch: unknown --write-out variable: 'nope'\n",
    )


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (["-O", "http://127.0.0.1:1/"], 23, "(23) Remote file name has no length!"),
        (["-T", "/nonexistent/file", "http://127.0.0.1:1/"], 26, "(26) cannot read"),
        (["-C", "x", "http://127.0.0.1:1/"], 2, "(2) -C takes an offset or '-', not 'x'"),
        (["-C", "-1", "http://127.0.0.1:1/"], 2, "(2) -C takes an offset of 0 or more"),
        (["-F", "novalue", "http://127.0.0.1:1/"], 2, "(2) -F takes NAME=CONTENT"),
        (["-F", "a=@/nonexistent", "http://127.0.0.1:1/"], 26, "(26) cannot read"),
        (["-F", "a=1", "-d", "b", "http://127.0.0.1:1/"], 2, "(2) -F cannot be used with -d"),
        (["-H", "@/nonexistent", "http://127.0.0.1:1/"], 26, "(26) cannot read the header"),
        (["-H", "Bad Name: 1", "http://127.0.0.1:1/"], 3, "(3) a header is 'Name: value'"),
        (["http://name.invalid/"], 6, "(6) cannot connect to name.invalid:80"),
    ],
)
def test_option_errors(
    argv: list[str], status: int, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(*argv) == status
    assert capsys.readouterr().err.startswith(f"ferry fetch: {error}")


def test_silent_hides_errors_and_show_error_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}/"
    assert fetch("-s", url) == 7
    assert capsys.readouterr().err == ""
    assert fetch("-sS", "-w", "%{errormsg}", url) == 7
    out, err = capsys.readouterr()
    assert out.startswith(f"cannot connect to 127.0.0.1:{url.split(':')[2][:-1]}")
    assert err == f"ferry fetch: (7) {out}\n"


def test_output_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        status = fetch("-o", str(tmp_path / "no" / "such" / "dir"), f"127.0.0.1:{server.port}/")
    assert status == 23
    assert capsys.readouterr().err.startswith(
        "ferry fetch: (23) Failure writing output to destination: [Errno 2]"
    )


def test_user_without_a_password_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return "secret"

    monkeypatch.setattr("getpass.getpass", getpass)
    with serving(echo_app) as server:
        target = str(Path(os.devnull))
        assert fetch("-u", "ann", "-D", target, f"http://127.0.0.1:{server.port}/") == 0
    assert asked == ["Enter host password for user 'ann' (127.0.0.1):"]


def test_user_agent_none_and_data_urlencode_from_files(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "v").write_bytes(b"a b")
    with serving(echo_app) as server:
        url = f"http://127.0.0.1:{server.port}/"
        argv = ["-A", "", "--data-urlencode", f"n@{tmp_path / 'v'}"]
        argv += ["--data-urlencode", f"@{tmp_path / 'v'}", "--data-urlencode", "plain text"]
        argv += ["--data-urlencode", "m@/nonexistent", "-d", "@/nonexistent"]
        assert fetch(*argv, url) == 0
    out, err = capsysbinary.readouterr()
    seen = json.loads(out)
    assert seen["body"] == "n=a+b&a+b&plain+text&m=&"
    assert "user-agent" not in [name for name, _ in seen["headers"]]
    assert err == (
        b'Warning: Couldn\'t read data from file "/nonexistent", skipping.\n'
        b'Warning: Couldn\'t read data from file "/nonexistent", this makes an empty POST.\n'
    )


def test_trace_json_with_an_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with replying(REPLY) as server:
        out = tmp_path / "body"
        assert fetch("--trace-json", "-o", str(out), f"http://127.0.0.1:{server.port}/") == 0
    assert json.loads(capsys.readouterr().out)["status"] == 200
    assert out.read_bytes() == b"hello"


def endless_chunked(sock: socket.socket, index: int) -> None:
    """A chunked body of 512-byte chunks, 1 MiB at most, then its end."""
    read_head(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(2048):
        sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    wait_closed(sock)


def test_max_filesize_refuses_a_declared_size(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 100) as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert fetch("--max-filesize", "99", url) == 63
        assert capsysbinary.readouterr() == (b"", b"ferry fetch: (63) Maximum file size exceeded\n")
        assert fetch("--max-filesize", "100", url) == 0
        assert fetch("--max-filesize", "0", url) == 0  # curl's "no limit"
        assert capsysbinary.readouterr().out == b"y" * 200


def test_max_filesize_stops_a_body_of_unknown_size(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """As curl 8.4 and later: the transfer ends once what arrived passed the limit."""
    with ScriptedServer(endless_chunked) as server:
        assert fetch("--max-filesize", "8k", f"http://127.0.0.1:{server.port}/") == 63
    out, err = capsysbinary.readouterr()
    assert err == b"ferry fetch: (63) Maximum file size exceeded\n"
    assert out == b"x" * len(out)
    assert len(out) <= 8192


@pytest.mark.parametrize(
    ("given", "size"),
    [("10", 10), ("10b", 10), ("1k", 1024), ("2K", 2048), ("3m", 3 << 20), ("1G", 1 << 30)],
)
def test_max_filesize_takes_curl_s_suffixes(given: str, size: int) -> None:
    assert file_size(given) == size


@pytest.mark.parametrize("given", ["1x", "k", "-1", "1.5k", "1kb"])
def test_max_filesize_refuses_other_sizes(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        file_size(given)


def test_max_time_ends_a_trickling_body(capsys: pytest.CaptureFixture[str]) -> None:
    """-m is the client's total deadline: a body trickling faster than each read
    timeout ends at -m, with curl's message."""
    pace = threading.Event()  # never set: wait() paces the server

    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            sock.sendall(b"z")
            pace.wait(0.1)

    with ScriptedServer(handler) as server:
        assert fetch("-m", "0.5", "-o", os.devnull, f"http://127.0.0.1:{server.port}/") == 28
    pattern = r"ferry fetch: \(28\) Operation timed out after \d+ milliseconds with \d+ out of 100"
    assert re.fullmatch(pattern + r" bytes received\n", capsys.readouterr().err)
