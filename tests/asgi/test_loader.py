"""Finding the application a ``module:attribute`` target names (``ferry.asgi.import_app``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry import ConfigError
from ferry.asgi import import_app

from ..server import _apps

APPS = "tests.server._apps"


def test_module_attribute() -> None:
    assert import_app(f"{APPS}:echo") is _apps.echo


def test_dotted_attribute() -> None:
    assert import_app(f"{APPS}:echo.__call__") == _apps.echo.__call__


def test_factory_is_called() -> None:
    assert import_app(f"{APPS}:make_echo", factory=True) is _apps.echo


@pytest.mark.parametrize(
    ("target", "factory", "message"),
    [
        ("mod", False, "application target must be 'module:attribute', got 'mod'"),
        (":app", False, "application target must be 'module:attribute', got ':app'"),
        ("mod:", False, "application target must be 'module:attribute', got 'mod:'"),
        ("no_such_module_xyz:app", False, "could not import module 'no_such_module_xyz'"),
        (
            "no_such_package_xyz.sub:app",
            False,
            "could not import module 'no_such_package_xyz.sub'",
        ),
        (f"{APPS}:missing", False, f"module '{APPS}' has no attribute 'missing'"),
        (f"{APPS}:echo.missing", False, f"module '{APPS}' has no attribute 'echo.missing'"),
        (f"{APPS}:not_callable", False, f"application '{APPS}:not_callable' is not callable"),
        (f"{APPS}:not_callable", True, f"factory '{APPS}:not_callable' is not callable"),
    ],
)
def test_bad_targets_say_what_is_wrong(target: str, factory: bool, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        import_app(target, factory=factory)
    assert str(info.value) == message


def test_a_directory_or_no_target_serves_static_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry import StaticFiles

    assert isinstance(import_app(str(tmp_path)), StaticFiles)
    monkeypatch.chdir(tmp_path)
    assert isinstance(import_app(""), StaticFiles)


def test_a_failing_import_inside_the_module_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module exists; a module it imports does not: the user must see that error.
    (tmp_path / "broken_app_mod.py").write_text("import missing_dependency_xyz\napp = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        import_app("broken_app_mod:app")
    assert info.value.name == "missing_dependency_xyz"
