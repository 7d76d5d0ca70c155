"""``ferry`` on the command line, run as a real program: options generated from Config,
FERRY_* variables, the ways to listen (TCP, --uds, --fd), app loading, logging and exit
statuses. Each server is waited for by polling connect() with a deadline."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry import Config, __version__
from ferry._cli import build_parser, config_from_args, main
from ferry._errors import ConfigError
from ferry.server._loader import import_app

from .server._helpers import (
    FIXED_DATE,
    REPO,
    ferry_process,
    free_port,
    head,
    normalise_date,
    open_connection,
    run_curl,
    tcp_connector,
)
from .support import serving

DATE = FIXED_DATE.decode().rstrip()
APPS = "tests.server._apps"
ACCESS_LINE = re.compile(
    r"127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)" \d+\.\d{3}ms'
)


def run_ferry(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """``python -m ferry ARGS`` to completion (for commands that exit by themselves)."""
    base = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ferry", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def get(port: int, request: bytes = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n") -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(request)
        return normalise_date(reader.response())


def test_help_lists_every_config_field() -> None:
    result = run_ferry("serve", "--help")
    assert result.returncode == 0
    text = result.stdout
    for field in dataclasses.fields(Config):
        if field.name == "app":
            assert "\n  TARGET " in text
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            flag = f"{flag}, --no-{flag[2:]}"
        # The flag and its aliases, each with its metavar or choices, then its help (maybe
        # on the next line).
        flags = r"(?: \S+)?, ".join(map(re.escape, [flag, *field.metadata["aliases"]]))
        words = r"\s+".join(map(re.escape, field.metadata["help"].split()))
        pattern = rf"\n  {flags}(?: \S+)?\s+{words}\s"
        assert re.search(pattern, text), field.name
    assert "FERRY_<OPTION>" in text
    # argparse may wrap a line at a flag's hyphen: "--timeout-keep-\n alive".
    assert " ".join(text.split("\n\n")[-1].split()).replace("- ", "-") == (
        "uvicorn's names for the same settings are accepted too: --no-server-header (= "
        "--server-header ''), --limit-max-requests (= --max-requests), --limit-concurrency "
        "(= --max-connections), "
        "--timeout-keep-alive (= --keep-alive-timeout), --timeout-graceful-shutdown (= "
        "--graceful-timeout); --app-dir, --env-file, --ws and --http take uvicorn's values. "
        "Options cannot be abbreviated."
    )
    assert "\n  --timeout-keep-alive " not in text  # listed with --keep-alive-timeout
    assert "\n  --no-server-header    uvicorn's name for --server-header ''\n" in text


def test_python_m_ferry_and_the_script_are_the_same_program() -> None:
    module = run_ferry("--version")
    script = subprocess.run(
        [str(Path(sys.executable).parent / "ferry"), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (module.returncode, module.stdout) == (0, f"ferry {__version__}\n")
    assert (script.returncode, script.stdout) == (0, f"ferry {__version__}\n")


def test_no_command_is_a_usage_error() -> None:
    result = run_ferry()
    assert result.returncode == 2
    assert result.stderr.endswith("ferry: error: the following arguments are required: COMMAND\n")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule:app", "could not import module 'nosuchmodule'"),
        (APPS, f"application target must be 'module:attribute', got '{APPS}'"),
        (f"{APPS}:missing", f"module '{APPS}' has no attribute 'missing'"),
        (f"{APPS}:not_callable", f"application '{APPS}:not_callable' is not callable"),
        (f"{APPS}:not_callable --factory", f"factory '{APPS}:not_callable' is not callable"),
    ],
)
def test_a_bad_target_is_a_clear_error(target: str, message: str) -> None:
    result = run_ferry("serve", *target.split())
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"ferry: error: {message}\n",
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "70000"], {}, "port out of range: 70000"),
        (["--head-timeout", "0"], {}, "head_timeout must be positive"),
        (["--root-path", "/api/"], {}, "root_path must start with '/' and not end with '/'"),
        (["--uds", "/tmp/x.sock", "--fd", "3"], {}, "--uds and --fd cannot be used together"),
        (
            ["--server-header", "x\r\nX-Injected: 1"],
            {},
            "server_header is not a valid field value: 'x\\r\\nX-Injected: 1'",
        ),
        (["--server-header", "€"], {}, "server_header is not a valid field value: '€'"),
        ([], {"FERRY_PORT": "eighty"}, "FERRY_PORT: invalid value 'eighty'"),
        ([], {"FERRY_ACCESS_LOG": "maybe"}, "FERRY_ACCESS_LOG: invalid value 'maybe'"),
        ([], {"FERRY_LOOP": "trio"}, "FERRY_LOOP: invalid value 'trio'"),
    ],
)
def test_a_bad_setting_is_a_clear_error(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_ferry("serve", f"{APPS}:echo", *args, env=env)
    assert (result.returncode, result.stderr) == (2, f"ferry: error: {message}\n")


def test_startup_failure_with_lifespan_on_exits_3() -> None:
    result = run_ferry("serve", f"{APPS}:fails_startup", "--lifespan", "on", "--port", "0")
    assert result.returncode == 3
    assert result.stderr.endswith("ferry: application startup failed: no database\n")


def test_a_port_in_use_exits_1_after_lifespan_shutdown() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ferry("serve", f"{APPS}:echo", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.startswith("ferry: cannot listen: [Errno 98] ")
    assert result.stderr.count("\n") == 1  # that line only
    # Startup completed, so the app is shut down too (it may have opened resources).
    assert result.stdout == "lifespan startup\nlifespan shutdown\n"


def test_ferry_port_sets_the_default_port(loop_name: str) -> None:
    port = free_port()
    env = {"FERRY_PORT": str(port), "FERRY_SERVER_HEADER": "from-env"}
    with ferry_process([f"{APPS}:echo", "--loop", loop_name], env=env) as ferry:
        ferry.wait_ready(tcp_connector(port))
        response = get(port)
    assert response == head(
        "HTTP/1.1 200 OK",
        DATE,
        "Server: from-env",
        "Content-Length: 7",
    ) + (b"GET /: ")


def test_a_flag_wins_over_its_environment_variable(loop_name: str) -> None:
    port = free_port()
    env = {"FERRY_PORT": "1"}  # a port this test could not listen on
    with ferry_process(
        [f"{APPS}:echo", "--loop", loop_name, "--port", str(port)], env=env
    ) as ferry:
        ferry.wait_ready(tcp_connector(port))
        assert get(port).endswith(b"\r\n\r\nGET /: ")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a UNIX socket path has at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="ferry-", dir="/tmp") as path:
        yield Path(path)


def unix_connector(path: Path) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            raise
        return sock

    return connect


def test_uds_serves_over_a_unix_socket(loop_name: str, short_dir: Path) -> None:
    path = short_dir / "ferry.sock"
    with ferry_process([f"{APPS}:addresses", "--uds", str(path), "--loop", loop_name]) as ferry:
        ferry.wait_ready(unix_connector(path))
        result = run_curl("-i", "--unix-socket", str(path), "http://localhost/x")
        ferry.signal(signal.SIGTERM)
        code, _, err = ferry.finish()
    assert result.returncode == 0, result.stderr
    body = json.dumps(
        {"client": None, "server": [str(path), None], "root_path": "", "path": "/x"}
    ).encode()
    assert (
        normalise_date(result.stdout)
        == head(
            "HTTP/1.1 200 OK",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )
    assert code == 0
    assert f"INFO: Ferry serving on unix:{path} (Ctrl+C to stop)" in err.splitlines()
    assert not path.exists()  # removed on shutdown


def test_uds_replaces_a_stale_socket_but_never_a_file(loop_name: str, short_dir: Path) -> None:
    stale = short_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(str(stale))  # left behind, as by a crashed server
    with ferry_process([f"{APPS}:echo", "--uds", str(stale), "--loop", loop_name]) as ferry:
        ferry.wait_ready(unix_connector(stale))
    regular = short_dir / "file"
    regular.write_text("keep me")
    result = run_ferry("serve", f"{APPS}:echo", "--uds", str(regular), "--lifespan", "off")
    assert result.returncode == 1
    assert result.stderr.startswith("ferry: cannot listen: ")
    assert regular.read_text() == "keep me"


def test_fd_serves_on_an_inherited_socket(loop_name: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))  # bound, not yet listening: ferry listens
        port = listener.getsockname()[1]
        fd = listener.fileno()
        with ferry_process(
            [f"{APPS}:addresses", "--fd", str(fd), "--loop", loop_name], pass_fds=[fd]
        ) as ferry:
            ferry.wait_ready(tcp_connector(port))
            sock, reader = open_connection(port)
            with sock:
                sock.sendall(b"GET /fd HTTP/1.1\r\nHost: t\r\n\r\n")
                body = reader.response().partition(b"\r\n\r\n")[2]
                client_port = sock.getsockname()[1]
    assert json.loads(body) == {
        "client": ["127.0.0.1", client_port],
        "server": ["127.0.0.1", port],
        "root_path": "",
        "path": "/fd",
    }


def test_factory_calls_the_target_for_the_app(loop_name: str) -> None:
    port = free_port()
    args = [f"{APPS}:make_echo", "--factory", "--port", str(port), "--loop", loop_name]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        assert get(port).endswith(b"\r\n\r\nGET /: ")


def test_root_path_option(loop_name: str) -> None:
    port = free_port()
    args = [f"{APPS}:addresses", "--root-path", "/app", "--port", str(port), "--loop", loop_name]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        body = get(port, b"GET /x?y HTTP/1.1\r\nHost: t\r\n\r\n").partition(b"\r\n\r\n")[2]
        ferry.signal(signal.SIGTERM)
        code, out, _ = ferry.finish()
    assert code == 0
    assert json.loads(body)["root_path"] == "/app"
    assert json.loads(body)["path"] == "/app/x"
    # The access log shows the request line as sent, without the root_path.
    [line] = out.splitlines()
    match = ACCESS_LINE.fullmatch(line)
    assert match is not None, line
    assert match.group("request") == "GET /x?y HTTP/1.1"


def serve_two_requests(loop_name: str, *extra: str) -> list[str]:
    """Serve GET /page?q=1 (with Referer and User-Agent) and GET /x; stdout lines."""
    port = free_port()
    args = [f"{APPS}:echo", "--port", str(port), "--loop", loop_name, *extra]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        get(
            port,
            b"GET /page?q=1 HTTP/1.1\r\nHost: t\r\nReferer: http://ref/\r\n"
            b"User-Agent: test-agent/1.0\r\n\r\n",
        )
        get(port, b"GET /x HTTP/1.0\r\n\r\n")
        ferry.signal(signal.SIGTERM)
        code, out, _ = ferry.finish()
    assert code == 0
    return out.splitlines()


def test_access_log_lines_in_combined_format(loop_name: str) -> None:
    lines = serve_two_requests(loop_name)
    assert lines[0] == "lifespan startup"
    assert lines[-1] == "lifespan shutdown"
    matches = [ACCESS_LINE.fullmatch(line) for line in lines[1:-1]]
    assert all(matches), lines
    assert [m.groupdict() for m in matches if m] == [
        {
            "request": "GET /page?q=1 HTTP/1.1",
            "status": "200",
            "bytes": "11",
            "referer": "http://ref/",
            "agent": "test-agent/1.0",
        },
        {"request": "GET /x HTTP/1.0", "status": "200", "bytes": "8", "referer": "-", "agent": "-"},
    ]


def test_no_access_log(loop_name: str) -> None:
    assert serve_two_requests(loop_name, "--no-access-log") == [
        "lifespan startup",
        "lifespan shutdown",
    ]


def test_empty_server_header_drops_the_field(loop_name: str) -> None:
    port = free_port()
    args = [f"{APPS}:echo", "--server-header", "", "--port", str(port), "--loop", loop_name]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        response = get(port)
    assert response == head("HTTP/1.1 200 OK", DATE, "Content-Length: 7") + (b"GET /: ")


def test_lifespan_auto_tolerates_an_app_without_it(loop_name: str) -> None:
    port = free_port()
    args = [f"{APPS}:raises_on_lifespan", "--port", str(port), "--loop", loop_name]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        assert get(port).endswith(b"\r\n\r\nup")


def test_a_500_for_a_failing_app_is_access_logged(loop_name: str) -> None:
    port = free_port()
    args = [f"{APPS}:crashes", "--port", str(port), "--loop", loop_name, "--lifespan", "off"]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        sock, reader = open_connection(port)
        with sock:
            sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.to_close()
        ferry.signal(signal.SIGTERM)
        code, out, err = ferry.finish()
    assert code == 0
    body = b"500 Internal Server Error: Internal Server Error\n"
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert response.endswith(b"\r\n\r\n" + body)
    [line] = out.splitlines()
    match = ACCESS_LINE.fullmatch(line)
    assert match is not None, line
    assert match.group("request", "status", "bytes") == (
        "GET /boom HTTP/1.1",
        "500",
        str(len(body)),
    )
    assert "RuntimeError: crash" in err


# -- in process: the parser generated from Config ---------------------------------------


def parse(*argv: str) -> Config:
    return config_from_args(build_parser().parse_args(["serve", *argv]))


def test_flags_map_onto_config_fields() -> None:
    config = parse(
        "pkg.mod:app",
        "--factory",
        "--root-path",
        "/api",
        "--lifespan",
        "off",
        "--uds",
        "/tmp/f.sock",
        "--loop",
        "asyncio",
        "--no-access-log",
        "--server-header",
        "",
        "--max-body-size",
        "none",
        "--max-requests-per-connection",
        "None",
        "--max-drain",
        "0",
        "--head-timeout",
        "2.5",
    )
    assert config == Config(
        app="pkg.mod:app",
        factory=True,
        root_path="/api",
        lifespan="off",
        uds="/tmp/f.sock",
        loop="asyncio",
        access_log=False,
        server_header="",
        max_body_size=None,
        max_requests_per_connection=None,
        max_drain=0,
        head_timeout=2.5,
    )
    assert parse("pkg.mod:app") == Config(app="pkg.mod:app")


def test_environment_variables_set_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_PORT", "9123")
    monkeypatch.setenv("FERRY_ACCESS_LOG", "off")
    monkeypatch.setenv("FERRY_KEEP_ALIVE_TIMEOUT", "7.5")
    monkeypatch.setenv("FERRY_MAX_BODY_SIZE", "none")
    monkeypatch.setenv("FERRY_LIFESPAN", "on")
    assert parse("m:a") == Config(
        app="m:a",
        port=9123,
        access_log=False,
        keep_alive_timeout=7.5,
        max_body_size=None,
        lifespan="on",
    )
    assert parse("m:a", "--port", "9124", "--access-log").port == 9124


def test_main_reports_a_bad_variable_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERRY_MAX_DRAIN", "lots")
    assert main(["serve", "m:a"]) == 2
    assert capsys.readouterr().err == "ferry: error: FERRY_MAX_DRAIN: invalid value 'lots'\n"


def test_main_reports_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "nosuchmodule:app"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "ferry: error: could not import module 'nosuchmodule'\n"


def gc_answers(loop_name: str, *extra: str) -> list[dict[str, object]]:
    """The gc_state app's answers to /, /cycle and /churn from a ``ferry serve`` process."""
    port = free_port()
    args = [f"{APPS}:gc_state", "--port", str(port), "--loop", loop_name, *extra]
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        answers = [
            json.loads(
                get(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()).partition(
                    b"\r\n\r\n"
                )[2]
            )
            for path in ("/", "/cycle", "/churn")
        ]
    return answers


def test_gc_tuning_freezes_the_startup_heap_and_still_collects_cycles(loop_name: str) -> None:
    plain, cycle, churn = gc_answers(loop_name)
    assert plain["enabled"] is True
    assert plain["frozen"] > 1000  # the modules and the app, at least
    assert plain["threshold"] == [10_000, 10, 10]
    assert cycle["cycles_alive"] == 1  # made, not yet collected
    assert churn["cycles_alive"] == 0  # a young collection found it


def test_no_gc_tuning_leaves_the_collector_alone(loop_name: str) -> None:
    plain, _, churn = gc_answers(loop_name, "--no-gc-tuning")
    assert plain == {"enabled": True, "threshold": [700, 10, 10], "frozen": 0, "cycles_alive": 0}
    assert churn["cycles_alive"] == 0


# -- uvicorn's habits: no abbreviations, uvicorn's names -----------------------------


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["serve", "--po", "19831", "m:a"], "--po"),
        (["serve", "m:a", "--max-body", "10"], "--max-body"),
        (["serve", "m:a", "--timeout-keep", "3"], "--timeout-keep"),
        (["fetch", "--loc", "http://127.0.0.1:1/"], "--loc"),
        (["--vers", "serve", "m:a"], "--vers"),
    ],
)
def test_abbreviated_options_are_refused(
    argv: list[str], unknown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert f"ferry: error: unrecognized arguments: {unknown}" in capsys.readouterr().err


def test_uvicorn_names_set_the_same_fields() -> None:
    config = parse(
        "m:a",
        "--timeout-keep-alive",
        "7",
        "--no-server-header",
        "--limit-concurrency",
        "50",
        "--timeout-graceful-shutdown",
        "3",
        "--ws",
        "none",
        "--http",
        "h11",
        "--app-dir",
        "src",
        "--env-file",
        ".env",
    )
    assert config == Config(
        app="m:a",
        keep_alive_timeout=7.0,
        server_header="",
        max_connections=50,
        graceful_timeout=3.0,
        ws="none",
        http="h11",
        app_dir="src",
        env_file=".env",
    )
    assert parse("m:a", "--server-header", "x").server_header == "x"
    assert parse("m:a", "--ws", "websockets").ws == "websockets"


def test_http_is_accepted_with_a_note() -> None:
    result = run_ferry("serve", "nosuchmodule:app", "--http", "httptools")
    assert (result.returncode, result.stderr) == (
        2,
        "ferry: note: --http httptools is accepted for uvicorn's command lines and ignored: "
        "Ferry always uses its own HTTP/1.1 engine\n"
        "ferry: error: could not import module 'nosuchmodule'\n",
    )


async def upgrade_or_http(scope: Any, receive: Any, send: Any) -> None:
    """Accepts a WebSocket; answers an HTTP request with its scope type."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"http"})


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize(
    ("ws", "status_line"),
    [("auto", b"HTTP/1.1 101 Switching Protocols"), ("none", b"HTTP/1.1 200 OK")],
)
def test_ws_none_serves_an_upgrade_request_as_http(ws: str, status_line: bytes) -> None:
    pytest.importorskip("websockets")
    with serving(upgrade_or_http, ws=ws, lifespan="off") as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(UPGRADE)
            assert reader.head().split(b"\r\n")[0] == status_line


def test_env_file_and_app_dir(tmp_path: Path) -> None:
    (tmp_path / "greeting.py").write_text(
        "import os\n\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    body = os.environ['GREETING'].encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    (tmp_path / ".env").write_text(
        '# as uvicorn reads it\nexport GREETING="hello, ${NAME:-you}"\n'
        "FERRY_SERVER_HEADER='from .env'\n"
    )
    port = free_port()
    args = ["greeting:app", "--app-dir", str(tmp_path), "--env-file", str(tmp_path / ".env")]
    with ferry_process([*args, "--port", str(port), "--lifespan", "off"]) as ferry:
        ferry.wait_ready(tcp_connector(port))
        response = get(port)
    assert response == head("HTTP/1.1 200 OK", DATE, "Server: from .env", "Content-Length: 10") + (
        b"hello, you"
    )


def test_an_unreadable_env_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    result = run_ferry("serve", "m:a", "--env-file", str(missing))
    assert result.returncode == 2
    assert result.stderr == (
        f"ferry: error: cannot read the --env-file '{missing}': [Errno 2] No such file or "
        f"directory: '{missing}'\n"
    )


# -- a directory of Python code is not served as files without --static -------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory: a package ``shop`` with a FastAPI-style app, and a module."""
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("from fastapi import FastAPI\n\nweb = FastAPI()\n")
    (package / "asgi.py").write_text("async def application(scope, receive, send): ...\n")
    (package / "factory.py").write_text("def create_app():\n    return None\n")
    (tmp_path / "main.py").write_text("import shop\n\napp = shop.web\n")
    return tmp_path


@pytest.mark.parametrize(
    ("where", "target", "message"),
    [
        (
            ".",
            "shop",
            "'shop' is a Python package: serving it would publish its source code. Did you "
            "mean 'ferry serve shop:web' or 'ferry serve shop.asgi:application' or "
            "'ferry serve --factory shop.factory:create_app'? To serve it as files anyway, "
            "add --static.",
        ),
        (
            ".",
            "",
            "the current directory holds Python modules: serving it would publish its "
            "source code. Did you mean 'ferry serve main:app'? To serve it as files "
            "anyway, add --static.",
        ),
        (
            "shop",
            "",
            "the current directory is a Python package: serving it would publish its source "
            "code. Did you mean 'ferry serve --app-dir .. shop:web' or 'ferry serve "
            "--app-dir .. shop.asgi:application' or 'ferry serve --app-dir .. --factory "
            "shop.factory:create_app'? To serve it as files anyway, add --static.",
        ),
    ],
)
def test_a_directory_of_python_code_is_refused(
    project: Path, where: str, target: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / where)
    with pytest.raises(ConfigError) as error:
        import_app(target)
    assert str(error.value) == message


def test_ferry_serve_refuses_a_package_with_exit_status_2(project: Path) -> None:
    result = run_ferry("serve", "shop", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("ferry: error: 'shop' is a Python package: ")


def test_the_likely_target_without_an_app_in_sight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From two levels below it, the folder is shown by its absolute path (a relative one
    # would start with "../.."), wherever the repository and the tests' tmp are.
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("")
    (tmp_path / "tools" / "broken.py").write_text("def (:\n")
    with pytest.raises(ConfigError) as error:
        import_app(str(tmp_path / "tools"))
    assert str(error.value) == (
        f"{str(tmp_path / 'tools')!r} is a Python package: serving it would publish its "
        f"source code. Did you mean 'ferry serve --app-dir {tmp_path} tools:app'? To serve "
        "it as files anyway, add --static."
    )


def test_static_serves_a_directory_of_python_code(project: Path) -> None:
    app = import_app(str(project / "shop"), static=True)
    with serving(app) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /asgi.py HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
    assert response.endswith(b"\r\n\r\nasync def application(scope, receive, send): ...\n")
    assert parse("shop", "--static").static is True


def test_a_directory_without_python_code_is_served(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "build.py").write_text("")  # not at the top: not a package
    app = import_app(str(tmp_path))
    with serving(app) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response().endswith(b"\r\n\r\n<p>hi</p>")


def test_main_with_uvicorn_choices(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "nosuchmodule:app", "--http", "h11"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("ferry: note: --http h11 is accepted")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(SystemExit):
        main(["serve", "m:a", "--ws", "websockets"])
    assert capsys.readouterr().err == (
        "ferry: error: --ws websockets needs the websockets package: pip install 'ferry[ws]'\n"
    )


def test_main_loads_the_env_file_before_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    (tmp_path / ".env").write_text("FERRY_PORT=eighty\n")
    assert main(["serve", "--env-file", str(tmp_path / ".env"), "m:a"]) == 2
    assert capsys.readouterr().err == "ferry: error: FERRY_PORT: invalid value 'eighty'\n"
    monkeypatch.setenv("FERRY_ENV_FILE", str(tmp_path / "missing"))
    assert main(["serve", "m:a"]) == 2
    assert "cannot read the --env-file" in capsys.readouterr().err
    monkeypatch.delenv("FERRY_PORT")  # set by the first .env
    assert main(["fetch", "-s", "foo://x/"]) == 1  # FERRY_ENV_FILE is serve's only


def test_app_dir_comes_first_on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "appdir_module.py").write_text("async def app(scope, receive, send): ...\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "appdir_module", raising=False)
    app = import_app("appdir_module:app", app_dir=str(tmp_path))
    assert sys.path[0] == str(tmp_path)
    assert app.__module__ == "appdir_module"
    del sys.modules["appdir_module"]
