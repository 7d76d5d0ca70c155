"""Options from a TOML file (``--config``) and from ``[tool.ferry]`` of pyproject.toml:
their keys and types checked, and their place in the order command line > environment >
file > defaults."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from ferry import Config, ConfigError
from ferry._cli import config_from_args, main, prepare
from ferry.server._config_file import check_options, options_from_file, options_from_pyproject

from .server._helpers import ferry_process, free_port, head, tcp_connector
from .test_cli import DATE, get, run_ferry


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test in an empty directory, with no FERRY_* variable of the caller's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if "FERRY" not in k})


def serve_config(*argv: str) -> Config:
    return config_from_args(prepare(["serve", *argv]).parse_args(["serve", *argv]))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- reading and checking -----------------------------------------------------------------


def test_every_kind_of_value(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ferry.toml",
        'app = "pkg.mod:app"\n'
        "port = 9001\n"
        "access_log = false\n"
        "keep-alive-timeout = 75\n"  # an integer where a float is wanted, kebab-case
        'lifespan = "off"\n'
        'max_body_size = "none"\n'
        'uds = "/tmp/x.sock"\n'
        "head_timeout = 2.5\n",
    )
    assert options_from_file(path) == {
        "app": "pkg.mod:app",
        "port": 9001,
        "access_log": False,
        "keep_alive_timeout": 75.0,
        "lifespan": "off",
        "max_body_size": None,
        "uds": "/tmp/x.sock",
        "head_timeout": 2.5,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 80\n", "unknown option 'prot' (did you mean 'port'?)"),
        ("colour = 1\n", "unknown option 'colour'"),
        ('config = "other.toml"\n', "unknown option 'config' (a config file cannot name another)"),
        ('port = "80"\n', "port must be an integer, not '80'"),
        ("port = true\n", "port must be an integer, not True"),
        ("access_log = 1\n", "access_log must be true or false, not 1"),
        ("head_timeout = true\n", "head_timeout must be a number, not True"),
        ('lifespan = "yes"\n', "lifespan must be one of 'auto', 'on', 'off', not 'yes'"),
        ("max_body_size = 1.5\n", 'max_body_size must be an integer or "none", not 1.5'),
        ("uds = 5\n", 'uds must be a string or "none", not 5'),
        ("port = 80\nport-x = 1\n", "unknown option 'port-x' (did you mean 'port'?)"),
        ("max-body-size = 1\nmax_body_size = 2\n", "'max_body_size' is set twice (as - and as _)"),
        ("port = [80]\n", "port must be an integer, not [80]"),
        ("port = \n", "not valid TOML: Invalid value (at line 1, column 8)"),
    ],
)
def test_a_wrong_key_or_type_names_the_key_and_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "f.toml", text)
    with pytest.raises(ConfigError) as error:
        options_from_file(path)
    assert str(error.value) == f"{path}: {message}"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as error:
        options_from_file(missing)
    assert str(error.value) == f"cannot read the config file '{missing}': No such file or directory"


def test_every_config_field_but_config_can_be_set_from_a_file() -> None:
    table = {
        field.name: field.default
        for field in dataclasses.fields(Config)
        if field.default is not None and field.name != "config"
    }
    assert check_options(table, "t") == table


def test_pyproject_table(tmp_path: Path) -> None:
    assert options_from_pyproject() == {}  # no pyproject.toml
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert options_from_pyproject() == {}  # no [tool.ferry]
    write(tmp_path / "pyproject.toml", "[tool.ruff]\nline-length = 1\n[tool.ferry]\nport = 7\n")
    assert options_from_pyproject() == {"port": 7}
    write(tmp_path / "pyproject.toml", "[tool.ferry]\nprot = 7\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml \[tool.ferry\]: unknown option 'prot'"):
        options_from_pyproject()
    write(tmp_path / "pyproject.toml", 'tool = {ferry = "x"}\n')
    with pytest.raises(ConfigError, match=r"\[tool.ferry\] must be a table"):
        options_from_pyproject()


# -- precedence -------------------------------------------------------------------------


def test_command_line_over_environment_over_file_over_pyproject_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.ferry]\nport = 1001\nhost = '127.0.0.2'\nbacklog = 11\nthreads = 3\n",
    )
    write(tmp_path / "ferry.toml", "port = 1002\nhost = '127.0.0.3'\nbacklog = 12\n")
    monkeypatch.setenv("FERRY_PORT", "1003")
    monkeypatch.setenv("FERRY_HOST", "127.0.0.4")
    config = serve_config("m:a", "--config", "ferry.toml", "--port", "1004")
    assert config.port == 1004  # command line
    assert config.host == "127.0.0.4"  # environment
    assert config.backlog == 12  # --config file
    assert config.threads == 3  # pyproject.toml
    assert config.head_timeout == 10.0  # default
    assert config.app == "m:a"


def test_the_config_file_from_the_environment_and_the_target_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "ferry.toml", 'app = "site.main:app"\nport = 1234\n')
    monkeypatch.setenv("FERRY_CONFIG", str(tmp_path / "ferry.toml"))
    config = serve_config()
    assert (config.app, config.port) == ("site.main:app", 1234)
    assert serve_config("other:app").app == "other:app"


def test_an_env_file_named_in_the_config_file_is_loaded_before_the_options(
    tmp_path: Path,
) -> None:
    write(tmp_path / ".env", "FERRY_PORT=4321\n")
    write(tmp_path / "ferry.toml", 'env_file = ".env"\nport = 1\n')
    assert serve_config("m:a", "--config", "ferry.toml").port == 4321  # environment > file


def test_help_shows_the_files_values_as_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", "[tool.ferry]\nbacklog = 77\n")
    with pytest.raises(SystemExit):
        prepare(["serve", "--help"]).parse_args(["serve", "--help"])
    assert "listen backlog (default: 77)" in capsys.readouterr().out


def test_main_reports_a_bad_file_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "ferry.toml", "port = 'eighty'\n")
    assert main(["serve", "m:a", "--config", "ferry.toml"]) == 2
    assert capsys.readouterr().err == (
        "ferry: error: ferry.toml: port must be an integer, not 'eighty'\n"
    )
    assert main(["fetch", "-s", "foo://x/"]) == 1  # the files are serve's only


def test_ferry_serve_with_a_config_file_end_to_end(tmp_path: Path) -> None:
    """A real process: the app, its directory, the port and the Server header, all from
    the file."""
    write(
        tmp_path / "hello.py",
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'from the file'})\n",
    )
    port = free_port()
    write(
        tmp_path / "ferry.toml",
        f'app = "hello:app"\napp_dir = "{tmp_path}"\nport = {port}\n'
        'lifespan = "off"\nserver_header = "configured"\n',
    )
    with ferry_process(["--config", str(tmp_path / "ferry.toml")]) as ferry:
        ferry.wait_ready(tcp_connector(port))
        response = get(port)
    assert response == head("HTTP/1.1 200 OK", DATE, "Server: configured", "Content-Length: 13") + (
        b"from the file"
    )


def test_ferry_serve_names_the_file_in_its_error(tmp_path: Path) -> None:
    write(tmp_path / "ferry.toml", "max_body_sise = 10\n")
    result = run_ferry("serve", "--config", str(tmp_path / "ferry.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"ferry: error: {tmp_path / 'ferry.toml'}: unknown option 'max_body_sise' "
        "(did you mean 'max_body_size'?)\n"
    )


def test_a_repeatable_option_is_a_list_of_strings(tmp_path: Path) -> None:
    path = write(tmp_path / "f.toml", 'reload_dir = ["src", "templates"]\n')
    assert options_from_file(path) == {"reload_dir": ("src", "templates")}
    path = write(tmp_path / "f.toml", 'reload_dir = "src"\n')
    with pytest.raises(ConfigError, match="reload_dir must be a list of strings, not 'src'"):
        options_from_file(path)
