"""``ferry`` on the command line, run as a real program: options generated from Config,
FERRY_* variables, the ways to listen (TCP, --uds, --fd), app loading, logging and exit
statuses. Each server is waited for by polling connect() with a deadline."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry import Config, __version__
from ferry._cli import build_parser, config_from_args, main

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

DATE = FIXED_DATE.decode().rstrip()
APPS = "tests.server._apps"
ACCESS_LINE = re.compile(
    r"127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)" \d+\.\d{3}ms'
)


def run_ferry(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ferry ARGS`` to completion (for commands that exit by themselves)."""
    base = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ferry", *args],
        cwd=REPO,
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
        # The flag, its metavar or choices, then its help (maybe on the next line).
        pattern = rf"\n  {re.escape(flag)}(?: \S+)?\s+{re.escape(field.metadata['help'])} "
        assert re.search(pattern, text), field.name
    assert "FERRY_<OPTION>" in text


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
