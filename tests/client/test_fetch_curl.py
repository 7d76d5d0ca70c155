"""``ferry fetch`` side by side with curl: the same options against the same Ferry server,
comparing what each prints (bodies and heads), what the server received, and the exit
statuses. curl runs as a program (``curl -q``), ``ferry fetch`` in-process through
``ferry._cli.main`` (its stdin, stdout, stderr and working directory swapped the same
way), which lets coverage see it."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from ferry._cli import main
from ferry.asgi import Receive, Scope, Send

from ..server._helpers import read_body
from ..support import FIXED_TIME, ServerThread
from .rawserver import ScriptedServer, read_head

pytestmark = pytest.mark.skipif(
    subprocess.run(["curl", "--version"], capture_output=True, check=False).returncode != 0,
    reason="needs curl",
)

FILE = b"0123456789" * 10
GZIPPED = gzip.compress(b"compressed body\n", mtime=0)


class RoutesApp:
    """Routes: /echo (what arrived, as JSON; ``?show=a,b`` adds those header fields),
    /status/N, /redirect/N (N hops to /echo), /gzip (always gzip-encoded), /file (with
    ranges), /norange (ignores them), /slow (a head, 5 bytes, then waits)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        headers = {n.decode("latin-1"): v.decode("latin-1") for n, v in scope["headers"]}
        body = await read_body(receive)
        if path == "/slow":
            await self.respond(send, 200, b"", [(b"content-length", b"100")], more=True)
            await send({"type": "http.response.body", "body": b"12345", "more_body": True})
            await asyncio.wait_for(self.release.wait(), 10)
            return
        status, content, fields = self.route(scope, path, headers, body)
        await self.respond(send, status, content, fields)

    def route(
        self, scope: Scope, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if path.startswith("/status/"):
            return int(path[8:]), b"status body\n", [(b"content-type", b"text/plain")]
        if path.startswith("/redirect/"):
            hops = int(path[10:])
            target = f"/redirect/{hops - 1}" if hops > 1 else "/echo"
            return 302, b"", [(b"location", target.encode())]
        if path == "/gzip":
            return 200, GZIPPED, [(b"content-encoding", b"gzip")]
        if path in ("/file", "/norange"):
            return self.file(path, headers)
        return 200, self.echo(scope, headers, body), [(b"content-type", b"application/json")]

    @staticmethod
    def echo(scope: Scope, headers: dict[str, str], body: bytes) -> bytes:
        query = scope["query_string"].decode("latin-1")
        shown = parse_qs(query).get("show", [""])[0].split(",")
        names = ["content-type", "accept", "authorization", "range", "transfer-encoding"]
        seen = {name: headers.get(name) for name in [*names, *shown] if name}
        boundary = re.search(r"boundary=(\S+)", headers.get("content-type", ""))
        if boundary is not None:  # each program draws its own
            seen["content-type"] = headers["content-type"].replace(boundary.group(1), "BOUNDARY")
            body = body.replace(boundary.group(1).encode(), b"BOUNDARY")
        summary = {
            "method": scope["method"],
            "path": scope["path"],
            "query": query,
            "headers": seen,
            "accept-encoding": "accept-encoding" in headers,
            "body": body.decode("latin-1"),
        }
        return json.dumps(summary).encode() + b"\n"

    @staticmethod
    def file(path: str, headers: dict[str, str]) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        match = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
        if path == "/norange" or match is None:
            return 200, FILE, [(b"accept-ranges", b"bytes")]
        start = int(match.group(1))
        if start >= len(FILE):
            return 416, b"unsatisfiable\n", [(b"content-range", b"bytes */%d" % len(FILE))]
        content_range = f"bytes {start}-{len(FILE) - 1}/{len(FILE)}".encode()
        return 206, FILE[start:], [(b"content-range", content_range)]

    @staticmethod
    async def respond(
        send: Send,
        status: int,
        body: bytes,
        fields: list[tuple[bytes, bytes]],
        *,
        more: bool = False,
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": fields})
        if not more:
            await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The test app on a Ferry server for the module; its base URL. Every response has
    the same ``Date`` (the server's clock is fixed), so the two programs' outputs match."""
    app = RoutesApp()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ferry.http1._date.clock", lambda: FIXED_TIME)
        with ServerThread(app, lifespan="off") as running:
            yield f"http://127.0.0.1:{running.port}"
            assert running.loop is not None
            running.loop.call_soon_threadsafe(app.release.set)


def environment() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep and not k.endswith("_PROXY")}


def run(
    program: list[str], args: list[str], stdin: bytes, cwd: Path | None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*program, *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
        env=environment(),
        cwd=cwd,
    )


CURL = ["curl", "-q"]
Runner = Callable[[list[str], bytes, Path | None], subprocess.CompletedProcess[bytes]]
_ferry: list[Runner] = []  # set for each test by ferry_in_process


@pytest.fixture(autouse=True)
def ferry_in_process(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    def run_ferry(
        args: list[str], stdin: bytes, cwd: Path | None
    ) -> subprocess.CompletedProcess[bytes]:
        capsysbinary.readouterr()
        with monkeypatch.context() as patch:
            patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
            if cwd is not None:
                patch.chdir(cwd)
            for name in list(os.environ):
                if name.lower().endswith("_proxy"):
                    patch.delenv(name)
            try:
                status = main(["fetch", *args])
            except SystemExit as exc:  # a usage error
                status = int(exc.code or 0)
        out, err = capsysbinary.readouterr()
        return subprocess.CompletedProcess(args, status, out, err)

    _ferry.append(run_ferry)
    yield
    _ferry.pop()


def both(
    *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    """curl's and ferry fetch's runs with ``args``."""
    return run(CURL, list(args), stdin, cwd), _ferry[-1](list(args), stdin, cwd)


def same(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> bytes:
    """Run both; assert the same exit status and output; return the output."""
    curl, ferry = both(*args, stdin=stdin, cwd=cwd)
    assert (ferry.returncode, ferry.stdout) == (curl.returncode, curl.stdout), (
        ferry.stderr.decode(),
        curl.stderr.decode(),
    )
    return ferry.stdout


def message(result: subprocess.CompletedProcess[bytes]) -> str:
    """The error line, without the program's name."""
    return re.sub(r"^(curl|ferry fetch): ", "", result.stderr.decode().strip().splitlines()[-1])


def test_a_body_and_its_head(server: str) -> None:
    body = same("-s", f"{server}/echo")
    assert json.loads(body)["method"] == "GET"
    head = same("-s", "-i", f"{server}/status/201")
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert head.endswith(b"\r\n\r\nstatus body\n")
    assert same("-s", "-I", f"{server}/echo").endswith(b"\r\n\r\n")


def test_a_status_of_400_or_more_exits_22_only_with_fail(server: str) -> None:
    assert same("-s", f"{server}/status/404") == b"status body\n"
    assert same("-s", "-f", f"{server}/status/404") == b""
    assert same("-s", "--fail-with-body", f"{server}/status/503") == b"status body\n"
    assert same("-s", "-i", "-f", f"{server}/status/404").endswith(b"\r\n\r\n")
    curl, ferry = both("-sSf", f"{server}/status/404")
    assert (ferry.returncode, message(ferry)) == (22, message(curl))
    assert message(ferry) == "(22) The requested URL returned error: 404"
    curl, ferry = both("-s", "-f", f"{server}/status/500")
    assert (ferry.returncode, ferry.stderr) == (curl.returncode, curl.stderr) == (22, b"")


def echoed(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> dict[str, object]:
    """What the echo route saw, the same from both programs."""
    seen = json.loads(same("-s", *args, stdin=stdin, cwd=cwd))
    assert isinstance(seen, dict)
    return seen


def test_form_data(server: str, tmp_path: Path) -> None:
    seen = echoed("-d", "a=1", "-d", "b=2 3", f"{server}/echo")
    assert (seen["method"], seen["body"]) == ("POST", "a=1&b=2 3")
    assert seen["headers"] == {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "*/*",
        "authorization": None,
        "range": None,
        "transfer-encoding": None,
    }
    (tmp_path / "form").write_bytes(b"x=1\r\ny=2\n")
    assert echoed("-d", f"@{tmp_path / 'form'}", f"{server}/echo")["body"] == "x=1y=2"
    binary = echoed("--data-binary", f"@{tmp_path / 'form'}", f"{server}/echo")
    assert binary["body"] == "x=1\r\ny=2\n"
    assert echoed("-d", "@-", f"{server}/echo", stdin=b"from\nstdin")["body"] == "fromstdin"
    assert echoed("--data-raw", "@raw", f"{server}/echo")["body"] == "@raw"
    encoded = echoed("--data-urlencode", "q=a b&c", "--data-urlencode", "=é/", f"{server}/echo")
    assert encoded["body"] == "q=a+b%26c&%C3%A9%2F"
    assert echoed("-X", "PUT", "-d", "x", f"{server}/echo")["method"] == "PUT"


def test_json(server: str) -> None:
    seen = echoed("--json", '{"a": 1}', f"{server}/echo")
    assert (seen["method"], seen["body"]) == ("POST", '{"a": 1}')
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert (headers["content-type"], headers["accept"]) == ("application/json",) * 2


def test_get_puts_the_data_in_the_query(server: str) -> None:
    seen = echoed("-G", "-d", "q=1", "--data-urlencode", "r=a b", f"{server}/echo?p=0")
    assert (seen["method"], seen["query"], seen["body"]) == ("GET", "p=0&q=1&r=a+b", "")


def test_upload_a_file_and_stdin(server: str, tmp_path: Path) -> None:
    (tmp_path / "up.txt").write_bytes(b"uploaded")
    seen = echoed("-T", str(tmp_path / "up.txt"), f"{server}/upload/")
    assert (seen["method"], seen["path"], seen["body"]) == ("PUT", "/upload/up.txt", "uploaded")
    piped = echoed("-T", "-", f"{server}/echo", stdin=b"piped")
    assert (piped["method"], piped["body"]) == ("PUT", "piped")
    headers = piped["headers"]
    assert isinstance(headers, dict)
    assert headers["transfer-encoding"] == "chunked"


def test_credentials_agent_referer_and_header_fields(server: str) -> None:
    seen = echoed(
        "-u",
        "user:pass word",
        "-A",
        "agent/1",
        "-e",
        "http://from/",
        "-H",
        "Accept:",
        "-H",
        "X-Empty;",
        "-H",
        "X-One: 1",
        f"{server}/echo?show=user-agent,referer,x-empty,x-one",
    )
    assert seen["headers"] == {
        "content-type": None,
        "accept": None,
        "authorization": "Basic dXNlcjpwYXNzIHdvcmQ=",
        "range": None,
        "transfer-encoding": None,
        "user-agent": "agent/1",
        "referer": "http://from/",
        "x-empty": "",
        "x-one": "1",
    }


def test_location_shows_each_hop(server: str) -> None:
    """Defect 4: -L -i printed the first hop's head above the final body, and -L -v
    hid the other hops; curl shows each one."""
    output = same("-s", "-L", "-i", f"{server}/redirect/2")
    assert output.count(b"HTTP/1.1 302 Found\r\n") == 2
    assert output.count(b"HTTP/1.1 200 OK\r\n") == 1
    curl, ferry = both("-s", "-L", "-v", "-o", os.devnull, f"{server}/redirect/2")

    def received(stderr: bytes) -> list[str]:
        lines = stderr.decode().replace("\r", "").splitlines()
        return [line.rstrip() for line in lines if line.startswith("<")]

    assert received(ferry.stderr) == received(curl.stderr)
    assert [line for line in received(ferry.stderr) if line.startswith("< HTTP/")] == [
        "< HTTP/1.1 302 Found",
        "< HTTP/1.1 302 Found",
        "< HTTP/1.1 200 OK",
    ]
    curl, ferry = both("-s", "-L", "--max-redirs", "1", f"{server}/redirect/2")
    assert ferry.returncode == curl.returncode == 47


def test_compressed(server: str) -> None:
    assert same("-s", f"{server}/gzip") == GZIPPED  # as sent, without --compressed
    assert same("-s", "--compressed", f"{server}/gzip") == b"compressed body\n"
    assert echoed(f"{server}/echo")["accept-encoding"] is False
    assert echoed("--compressed", f"{server}/echo")["accept-encoding"] is True


def test_output_files_and_resume(server: str, tmp_path: Path) -> None:
    for program in ("curl", "ferry"):
        folder = tmp_path / program
        folder.mkdir()
        (folder / "part").write_bytes(FILE[:30])
    same("-s", "-O", f"{server}/file", cwd=tmp_path / "curl")
    same("-s", "-O", f"{server}/file", cwd=tmp_path / "ferry")
    same("-s", "-C", "-", "-o", "part", f"{server}/file", cwd=tmp_path / "curl")
    same("-s", "-C", "-", "-o", "part", f"{server}/file", cwd=tmp_path / "ferry")
    for program in ("curl", "ferry"):
        assert (tmp_path / program / "file").read_bytes() == FILE
        assert (tmp_path / program / "part").read_bytes() == FILE
    # Resuming a complete file: 416, taken for done, the file left as it is.
    same("-s", "-C", "-", "-o", "part", f"{server}/file", cwd=tmp_path / "curl")
    same("-s", "-C", "-", "-o", "part", f"{server}/file", cwd=tmp_path / "ferry")
    assert (tmp_path / "ferry" / "part").read_bytes() == FILE
    # An empty body makes an empty file; a failure with -f, none.
    for program in ("curl", "ferry"):
        same("-s", "-o", "empty", f"{server}/status/204", cwd=tmp_path / program)
        same("-s", "-f", "-o", "none", f"{server}/status/404", cwd=tmp_path / program)
        assert (tmp_path / program / "empty").read_bytes() == b""
        assert not (tmp_path / program / "none").exists()
    curl, ferry = both("-s", "-C", "10", f"{server}/norange")
    assert ferry.returncode == curl.returncode == 33


def test_write_out(server: str) -> None:
    variables = (
        "%{http_code} %{response_code} %{size_download} %{num_redirects} "
        "%{url_effective} %{content_type} %{method} %{http_version} %{exitcode} %{scheme} "
        "%{redirect_url} %header{content-type} 100%%\\t\\n"
    )
    output = same("-s", "-L", "-o", os.devnull, "-w", variables, f"{server}/redirect/1")
    size = len(same("-s", "-L", f"{server}/redirect/1"))
    assert output.decode() == (
        f"200 200 {size} 1 {server}/echo application/json GET 1.1 0 HTTP  application/json 100%\t\n"
    )
    assert same("-s", "-o", os.devnull, "-w", "%{redirect_url}", f"{server}/redirect/1") == (
        f"{server}/echo".encode()
    )
    # Without redirects: with them, Ferry's client opens a connection per hop for now.
    assert same("-s", "-o", os.devnull, "-w", "%{num_connects}", f"{server}/echo") == b"1"
    times = "%{time_namelookup} %{time_connect} %{time_starttransfer} %{time_total}"
    _, ferry = both("-s", "-o", os.devnull, "-w", times, f"{server}/echo")
    numbers = [float(value) for value in ferry.stdout.split()]
    assert numbers == sorted(numbers)
    assert all(re.fullmatch(rb"\d+\.\d{6}", value) for value in ferry.stdout.split())


def unused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return int(listener.getsockname()[1])


def test_failures_exit_as_curl_does(server: str) -> None:
    for args in (
        [f"http://127.0.0.1:{unused_port()}/"],  # 7
        ["-m", "0.5", f"{server}/slow"],  # 28
        ["foo://127.0.0.1/"],  # 1
    ):
        curl, ferry = both("-sS", "-w", "%{http_code} %{exitcode}", *args)
        assert (ferry.returncode, ferry.stdout) == (curl.returncode, curl.stdout), args
    curl, ferry = both("-sS", "-m", "0.5", f"{server}/slow")
    pattern = r"\(28\) Operation timed out after \d+ milliseconds with 5 out of 100 bytes received"
    assert re.fullmatch(pattern, message(curl))
    assert re.fullmatch(pattern, message(ferry))


def test_max_filesize_as_curl(server: str) -> None:
    """A declared size over the limit: exit 63 before the body, curl's message; at the
    limit, or with 0 (no limit), the body. (Without a declared size curl 8.4 and later
    stop at the limit, as Ferry does; the curl here may be older: tests/client/
    test_fetch_cli.py has that case.)"""
    curl, ferry = both("-sS", "--max-filesize", "99", f"{server}/file")
    assert (ferry.returncode, ferry.stdout) == (curl.returncode, curl.stdout) == (63, b"")
    assert message(curl) == message(ferry) == "(63) Maximum file size exceeded"
    assert same("-s", "--max-filesize", "100", f"{server}/file") == FILE
    assert same("-s", "--max-filesize", "0", f"{server}/file") == FILE
    assert same("-s", "--max-filesize", "1k", f"{server}/file") == FILE


def test_an_empty_reply_exits_52() -> None:
    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)  # then close without a byte

    with ScriptedServer(handler) as silent:
        curl, ferry = both("-s", f"http://127.0.0.1:{silent.port}/")
    assert ferry.returncode == curl.returncode == 52


def test_form_multipart(server: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"file\r\ncontent")
    (tmp_path / "value").write_bytes(b"from a file")
    seen = echoed(
        "-F",
        "a=1",
        "-F",
        f"b=<{tmp_path / 'value'}",
        "--form-string",
        "c=@not a file",
        "-F",
        f"upload=@{tmp_path / 'notes.txt'}",
        "-F",
        f"typed=@{tmp_path / 'notes.txt'};type=text/x-notes;filename=renamed.txt",
        f"{server}/echo?show=content-length",
    )
    assert seen["method"] == "POST"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "multipart/form-data; boundary=BOUNDARY"
    # Sent whole with its length (the same for both: curl's boundary has 40 characters too).
    assert (headers["transfer-encoding"], headers["content-length"]) == (None, "654")
    assert seen["body"] == (
        "--BOUNDARY\r\n"
        'Content-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        "--BOUNDARY\r\n"
        'Content-Disposition: form-data; name="b"\r\n\r\nfrom a file\r\n'
        "--BOUNDARY\r\n"
        'Content-Disposition: form-data; name="c"\r\n\r\n@not a file\r\n'
        "--BOUNDARY\r\n"
        'Content-Disposition: form-data; name="upload"; filename="notes.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nfile\r\ncontent\r\n"
        "--BOUNDARY\r\n"
        'Content-Disposition: form-data; name="typed"; filename="renamed.txt"\r\n'
        "Content-Type: text/x-notes\r\n\r\nfile\r\ncontent\r\n"
        "--BOUNDARY--\r\n"
    )
