"""``--access-log-file``: the access log appended to a file, each line whole, reopened
on SIGUSR1 (logrotate's ``postrotate``). A real ``ferry serve`` process and signal."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from ferry.http1 import Request
from ferry.server import _access_log
from ferry.server._access_log import AccessLogFile, access_writer, reopen_access_files

from ..support import log_lines
from ..test_cli import ACCESS_LINE, get
from ._helpers import ferry_process, free_port, tcp_connector

APPS = "tests.server._apps"


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    """Poll, bounded, for ``path`` to exist (the process makes it; no event says so)."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.01)


def wait_for_lines(path: Path, count: int, timeout: float = 10.0) -> list[str]:
    """Poll, bounded, until ``path`` holds ``count`` whole lines; those lines."""
    end = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if text.count("\n") >= count:
            return text.splitlines()
        assert time.monotonic() < end, f"{count} lines awaited in {path}: {text!r}"
        time.sleep(0.01)


def request_of(line: str) -> str:
    match = ACCESS_LINE.fullmatch(line)
    assert match is not None, line
    return match.group("request")


def test_the_file_is_reopened_on_sigusr1(loop_name: str, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("kept\n")  # appended to, not truncated
    port = free_port()
    args = [f"{APPS}:echo", "--port", str(port), "--loop", loop_name, "--lifespan", "off"]
    with ferry_process([*args, "--access-log-file", str(log)]) as ferry:
        ferry.wait_ready(tcp_connector(port))
        get(port, b"GET /before HTTP/1.1\r\nHost: t\r\n\r\n")
        assert wait_for_lines(log, 2)[0] == "kept"
        log.rename(tmp_path / "access.log.1")  # what logrotate does, then its postrotate:
        ferry.signal(signal.SIGUSR1)
        wait_for_file(log)  # made by the reopen, before any later request is served
        get(port, b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        [after] = wait_for_lines(log, 1)
        ferry.signal(signal.SIGTERM)
        code, out, err = ferry.finish()
    assert code == 0
    assert out == ""  # nothing on stdout: the lines went to the file
    assert "access log file reopened: " + str(log) in err
    rotated = (tmp_path / "access.log.1").read_text().splitlines()
    assert rotated[0] == "kept"
    assert [request_of(line) for line in rotated[1:]] == ["GET /before HTTP/1.1"]
    assert request_of(after) == "GET /after HTTP/1.1"


def test_a_file_that_cannot_be_opened_is_a_startup_error(tmp_path: Path) -> None:
    port = free_port()
    missing = tmp_path / "no-such-dir" / "access.log"
    args = [f"{APPS}:echo", "--port", str(port), "--access-log-file", str(missing)]
    with ferry_process(args) as ferry:
        code, _, err = ferry.finish()
    assert code == 2
    assert err.splitlines()[-1] == (
        f"ferry: error: cannot open the access log file {str(missing)!r}: No such file or directory"
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unknown_atom_is_a_startup_error(workers: str) -> None:
    args = [f"{APPS}:echo", "--port", str(free_port()), "--workers", workers]
    with ferry_process([*args, "--access-log-format", "%(h)s %(nope)s"]) as ferry:
        code, _, err = ferry.finish()
    assert code == 2
    assert err.startswith("ferry: error: access log format: unknown atom %(nope)s (the atoms:")


# -- AccessLogFile, in this process -----------------------------------------------------


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("ferry.access", logging.INFO, __file__, 1, message, None, None)


def test_each_line_is_written_whole_even_after_a_short_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "access.log"
    handler = AccessLogFile(str(path))
    writes: list[bytes] = []
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:  # the kernel may take less: a full disk
        writes.append(bytes(data))
        return real_write(fd, data[:3])

    monkeypatch.setattr(_access_log.os, "write", short_write)
    handler.emit(record("hello ü"))
    monkeypatch.undo()
    handler.close()
    handler.close()  # twice is harmless
    assert path.read_bytes() == "hello ü\n".encode()
    assert writes[0] == "hello ü\n".encode()  # one write per line, the rest only if short


def test_a_reopen_that_fails_keeps_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    handler = AccessLogFile(str(folder / "access.log"))
    other = logging.NullHandler()
    logger = logging.getLogger("ferry.access")
    logger.addHandler(handler)
    logger.addHandler(other)
    try:
        (folder / "access.log").rename(tmp_path / "rotated.log")
        folder.rmdir()  # the path cannot be opened now
        with log_lines("ferry.error") as errors:
            reopen_access_files()
        handler.emit(record("still here"))
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(other)
        handler.close()
    [error] = errors.lines
    assert error.startswith(f"cannot reopen the access log file {str(folder / 'access.log')!r}")
    assert (tmp_path / "rotated.log").read_text() == "still here\n"


def test_nothing_is_formatted_when_the_access_logger_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = Request(b"GET", b"/", "1.1", [])
    called: list[object] = []
    monkeypatch.setattr(_access_log, "clf_time", lambda: called.append(1) or "")
    logger = logging.getLogger("ferry.access")
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        for format in (None, "json", "%(t)s"):
            access_writer(format)(request, None, 200, 0, 0.0, ())
    finally:
        logger.setLevel(old)
    assert called == []
