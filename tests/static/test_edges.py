"""Corner cases of directories, siblings, scopes and configuration, run in-process."""

from __future__ import annotations

import asyncio
import errno
import gzip
import os
from pathlib import Path
from typing import Any

import pytest

from ferry.static import StaticFiles
from ferry.static._body import BodyWriter
from ferry.static._listing import _human_size

from ._asgi import call, scope_for


def status_and_body(app: StaticFiles, path: bytes, **kwargs: Any) -> tuple[int, bytes]:
    messages = call(app, scope_for(path, **kwargs))
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def test_index_that_is_a_directory_gives_the_listing(tmp_path: Path) -> None:
    (tmp_path / "index.html").mkdir()
    status, body = status_and_body(StaticFiles(tmp_path), b"/")
    assert status == 200
    assert b'<a href="index.html/">index.html/</a>' in body


def test_index_linking_outside_is_not_served(tmp_path: Path) -> None:
    (tmp_path / "secret.html").write_bytes(b"SECRET")
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").symlink_to(tmp_path / "secret.html")
    status, body = status_and_body(StaticFiles(root, listings=False), b"/")
    assert (status, body) == (404, b"404 Not Found\n")


def test_unreadable_index_is_403(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ferry.static import _app

    (tmp_path / "index.html").write_bytes(b"x")
    real_open = _app.open_file

    def open_file(path: str) -> tuple[int, os.stat_result]:
        if path.endswith("index.html"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path)

    app = StaticFiles(tmp_path)
    monkeypatch.setattr(_app, "open_file", open_file)
    assert status_and_body(app, b"/") == (403, b"403 Forbidden\n")


def test_unreadable_directory_listing_is_403(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.static import _app

    def read_entries(*args: object, **kwargs: object) -> list[object]:
        raise PermissionError(13, "Permission denied")

    app = StaticFiles(tmp_path)
    monkeypatch.setattr(_app, "read_entries", read_entries)
    assert status_and_body(app, b"/") == (403, b"403 Forbidden\n")


def test_sibling_that_is_a_directory_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_bytes(b"a{}")
    (tmp_path / "a.css.br").mkdir()
    (tmp_path / "a.css.gz").write_bytes(b"GZ")
    headers = [(b"accept-encoding", b"br, gzip")]
    assert status_and_body(StaticFiles(tmp_path), b"/a.css", headers=headers) == (200, b"GZ")


def test_broken_link_is_not_listed(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "here.txt").write_bytes(b"")
    _, body = status_and_body(StaticFiles(tmp_path), b"/")
    assert b"here.txt" in body
    assert b"dangling" not in body


def test_scope_without_raw_path(tmp_path: Path) -> None:
    (tmp_path / "a b.txt").write_bytes(b"ab")
    scope = scope_for(b"")
    del scope["raw_path"]
    scope["path"] = "/a b.txt"
    messages = call(StaticFiles(tmp_path), scope)
    assert messages[-1]["body"] == b"ab"


def test_root_path_matched_percent_encoded(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"f")
    scope = scope_for(b"/st%C3%A4tic/f.txt", root_path="/stätic")
    assert call(StaticFiles(tmp_path), scope)[-1]["body"] == b"f"


def test_repeated_request_fields_are_joined(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"f")
    etag = dict(call(StaticFiles(tmp_path), scope_for(b"/f.txt"))[0]["headers"])[b"etag"]
    headers = [(b"If-None-Match", b'"other"'), (b"if-none-match", etag)]
    assert call(StaticFiles(tmp_path), scope_for(b"/f.txt", headers=headers))[0]["status"] == 304


@pytest.mark.parametrize("value", ["max-age=60\r\nSet-Cookie: x=1", "caf\u00e9\u2603", "a\x00"])
def test_invalid_cache_control_fails_at_construction(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="cache_control is not a valid field value"):
        StaticFiles(tmp_path, cache_control=value)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5 << 20, "5.0 MiB"),
        (3 << 40, "3072.0 GiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert _human_size(size) == text


def test_gzip_of_a_file_that_shrank_ends_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc" * 100)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            await BodyWriter(send, {}).send_gzip(fd, 10_000)
        finally:
            os.close(fd)

    asyncio.run(run())
    assert sent[-1]["more_body"] is False
    assert gzip.decompress(b"".join(m["body"] for m in sent)) == b"abc" * 100


class FakeOS:
    """Stands in for the ``os`` module inside ``_files`` only (never patch ``os`` itself)."""

    def __init__(self, fail_open: bool) -> None:
        self.fail_open = fail_open
        self.closed: list[int] = []

    def open(self, path: str, flags: int) -> int:
        if self.fail_open:
            raise OSError(errno.EIO, "I/O error")
        return 99

    def fstat(self, fd: int) -> os.stat_result:
        raise OSError(errno.EIO, "I/O error")

    def close(self, fd: int) -> None:
        self.closed.append(fd)


@pytest.mark.parametrize("fail_open", [True, False])
def test_open_file_propagates_unexpected_errors(
    monkeypatch: pytest.MonkeyPatch, fail_open: bool
) -> None:
    from ferry.static import _files

    fake = FakeOS(fail_open)
    monkeypatch.setattr(_files, "os", fake)
    with pytest.raises(OSError, match="I/O error"):
        _files.open_file("/anything")
    assert fake.closed == ([] if fail_open else [99])  # an fd opened is closed


def test_unix_socket_in_the_tree_is_404(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        assert status_and_body(StaticFiles(tmp_path), b"/sock") == (404, b"404 Not Found\n")
