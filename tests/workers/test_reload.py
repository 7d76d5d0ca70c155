"""``ferry serve --reload``: the files that count, both ways of noticing them (OS
notifications through watchfiles, and polling), and a real server replacing its worker
as its code is edited, broken and fixed."""

from __future__ import annotations

import importlib.util
import os
import select
import time
from pathlib import Path

import pytest

from ferry import ConfigError
from ferry._cli import config_from_args, prepare
from ferry.workers._reload import POLL_INTERVAL, ChangeWatcher

from .test_workers import workers

SOURCE = (
    "async def app(scope, receive, send):\n"
    "    await send({{'type': 'http.response.start', 'status': 200, 'headers': []}})\n"
    "    await send({{'type': 'http.response.body', 'body': b'{body}'}})\n"
)


class Clock:
    """Readings of time.monotonic() for ``changes``, each past the next poll."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def later(self) -> float:
        self.now += 2 * POLL_INTERVAL
        return self.now


def touch(path: Path, text: str = "x = 1\n") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time_ns() + 10**9  # a second on: no two writes share a stamp
    os.utime(path, ns=(stamp, stamp))
    return str(path)


def test_which_files_count(tmp_path: Path) -> None:
    watcher = ChangeWatcher([str(tmp_path)], use_watchfiles=False)
    try:
        assert watcher.watches(tmp_path / "app.py")
        assert watcher.watches(tmp_path / "pkg" / "views.py")
        assert not watcher.watches(tmp_path / "notes.txt")
        assert not watcher.watches(tmp_path / ".venv" / "lib" / "site.py")
        assert not watcher.watches(tmp_path / "pkg" / "__pycache__" / "views.py")
        assert not watcher.watches(tmp_path / ".#app.py")
        assert not watcher.watches(tmp_path / "app.pyc")
        assert not watcher.watches(tmp_path.parent / "elsewhere.py")
    finally:
        watcher.close()
    custom = ChangeWatcher(
        [str(tmp_path)], ["*.html", "conf/*.toml"], ["drafts"], use_watchfiles=False
    )
    try:
        assert custom.watches(tmp_path / "templates" / "page.html")
        assert custom.watches(tmp_path / "conf" / "site.toml")
        assert not custom.watches(tmp_path / "app.py")
        assert not custom.watches(tmp_path / "drafts" / "page.html")
    finally:
        custom.close()


def test_polling_sees_edits_new_files_and_removals(tmp_path: Path) -> None:
    app = touch(tmp_path / "app.py")
    touch(tmp_path / "readme.txt")
    watcher = ChangeWatcher([str(tmp_path)], use_watchfiles=False)
    clock = Clock()
    try:
        assert watcher.method == "polling"
        assert watcher.changes(clock.later()) == []
        touch(tmp_path / "app.py", "x = 2\n")
        touch(tmp_path / "readme.txt", "more\n")
        assert watcher.changes(clock.now) == []  # not yet time to look
        assert watcher.changes(clock.later()) == [app]
        new = touch(tmp_path / "pkg" / "models.py")
        assert watcher.changes(clock.later()) == [new]
        os.unlink(new)
        assert watcher.changes(clock.later()) == [new]
        assert watcher.changes(clock.later()) == []
    finally:
        watcher.close()


@pytest.mark.skipif(importlib.util.find_spec("watchfiles") is None, reason="ferry[reload]")
def test_watchfiles_notifications_wake_the_main_process(tmp_path: Path) -> None:
    watcher = ChangeWatcher([str(tmp_path)])
    try:
        assert watcher.method == "watchfiles"
        deadline = time.monotonic() + 20
        edited = touch(tmp_path / "app.py")
        touch(tmp_path / "ignored.txt")
        found: list[str] = []
        while not found and time.monotonic() < deadline:
            select.select([watcher.fileno()], [], [], 1.0)  # the pipe the thread writes
            found = watcher.changes(time.monotonic())
            if not found:  # the watcher may start after the first write: write again
                touch(tmp_path / "app.py", f"x = {time.monotonic_ns()}\n")
        assert found == [edited]
    finally:
        watcher.close()


def test_reload_refuses_more_than_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if "FERRY" not in k})
    argv = ["serve", "m:a", "--reload", "--workers", "2"]
    with pytest.raises(ConfigError, match="--reload runs one worker: leave out --workers"):
        config_from_args(prepare(argv).parse_args(argv))
    argv = ["serve", "m:a", "--reload", "--reload-dir", "a", "--reload-dir", "b"]
    assert config_from_args(prepare(argv).parse_args(argv)).reload_dir == ("a", "b")
    monkeypatch.setenv("FERRY_RELOAD_INCLUDE", "*.py, *.html")
    argv = ["serve", "m:a", "--reload"]
    assert config_from_args(prepare(argv).parse_args(argv)).reload_include == ("*.py", "*.html")
    argv = ["serve", "m:a", "--reload-include", "*.txt"]  # given: replaces, not adds to
    assert config_from_args(prepare(argv).parse_args(argv)).reload_include == ("*.txt",)


def test_a_real_server_reloads_its_code_survives_a_broken_edit_and_takes_the_fix(
    tmp_path: Path,
) -> None:
    app = tmp_path / "site_app.py"
    app.write_text(SOURCE.format(body="one"))
    args = ("site_app:app", "--app-dir", str(tmp_path), "--reload", "--reload-dir", str(tmp_path))
    with workers(*args, "--lifespan", "off", "--no-access-log") as ferry:
        ferry.wait_for(r"reloading on changes \((watchfiles|polling)\)")
        ferry.ready_pids(1)
        assert ferry.get() == (200, b"one")

        touch(app, SOURCE.format(body="two"))
        ferry.wait_for("changes in .*site_app.py")
        ferry.wait_for("--reload: replacing 1 worker$")
        ferry.ready_pids(1)
        ferry.wait_for(r"worker \d+ stopped \(exit status 0\)")
        assert ferry.get() == (200, b"two")

        touch(app, SOURCE.format(body="three") + "def broken(:\n")
        ferry.wait_for("SyntaxError: invalid syntax")
        ferry.wait_for(r"failed to start \(exit status 1\) \(the running one is kept\): waiting")
        assert ferry.get() == (200, b"two")

        touch(app, SOURCE.format(body="three"))
        ferry.ready_pids(1)
        ferry.wait_for(r"worker \d+ stopped \(exit status 0\)")
        assert ferry.get() == (200, b"three")
