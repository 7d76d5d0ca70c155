"""How bodies are written: zerocopysend, pathsend, or bounded http.response.body pieces.

Most run the app in-process with a send that records the messages, so the exact choice is
visible; the real-server tests at the end hide extensions to take each path over sockets.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ferry.static import FileShrankError, StaticFiles
from ferry.static._body import CHUNK_SIZE, BodyWriter, FileBody
from ferry.static._body import SMALL_RANGE as DEFAULT_SMALL_RANGE
from ferry.static._ranges import ByteRange
from tests.support import connect, read_response, serving

from ._asgi import call, scope_for
from .conftest import ZERO_COPY_EXTENSIONS, hiding_extensions

ZEROCOPY = {"http.response.zerocopysend": {}}
PATHSEND = {"http.response.pathsend": {}}


@pytest.fixture(autouse=True)
def zero_copy_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests follow the zero-copy path with small files: make every range 'large'.
    (test_small_ranges_are_read_and_large_ones_zero_copied checks the real threshold.)"""
    monkeypatch.setattr("ferry.static._body.SMALL_RANGE", 0)


def test_small_ranges_are_read_and_large_ones_zero_copied(
    site_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ferry.static._body.SMALL_RANGE", 100)
    messages = call(StaticFiles(site_root), scope_for(b"/digits.txt", extensions=ZEROCOPY))
    assert zerocopy_view(messages) == [("body", (b"0123456789" * 10), False)]
    monkeypatch.setattr("ferry.static._body.SMALL_RANGE", 99)
    messages = call(StaticFiles(site_root), scope_for(b"/digits.txt", extensions=ZEROCOPY))
    assert zerocopy_view(messages) == [("file", 0, 100, False)]


def test_the_threshold_is_one_piece() -> None:
    assert DEFAULT_SMALL_RANGE == CHUNK_SIZE


def zerocopy_view(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The body messages, with the fd replaced by its presence (fds are reused)."""
    view: list[tuple[Any, ...]] = []
    for message in messages[1:]:
        if message["type"] == "http.response.zerocopysend":
            assert isinstance(message["file"], int)
            view.append(("file", message["offset"], message["count"], message["more_body"]))
        else:
            view.append(("body", message["body"], message["more_body"]))
    return view


def test_whole_file_by_zerocopysend(site_root: Path) -> None:
    messages = call(StaticFiles(site_root), scope_for(b"/digits.txt", extensions=ZEROCOPY))
    assert messages[0]["status"] == 200
    assert zerocopy_view(messages) == [("file", 0, 100, False)]


def test_single_range_by_zerocopysend(site_root: Path) -> None:
    scope = scope_for(b"/digits.txt", headers=[(b"range", b"bytes=-7")], extensions=ZEROCOPY)
    messages = call(StaticFiles(site_root), scope)
    assert messages[0]["status"] == 206
    assert zerocopy_view(messages) == [("file", 93, 7, False)]


def test_multipart_by_zerocopysend(site_root: Path) -> None:
    scope = scope_for(b"/digits.txt", headers=[(b"range", b"bytes=0-1,10-12")], extensions=ZEROCOPY)
    messages = call(StaticFiles(site_root), scope)
    view = zerocopy_view(messages)
    assert [kind for kind, *_ in view] == ["body", "file", "body", "file", "body"]
    assert view[1] == ("file", 0, 2, True)
    assert view[3] == ("file", 10, 3, True)
    assert view[4][1].endswith(b"--\r\n")
    assert view[4][2] is False
    assert [message.get("more_body") for message in messages[1:]] == [
        True,
        True,
        True,
        True,
        False,
    ]
    announced = int(dict(messages[0]["headers"])[b"content-length"])
    framing = sum(len(m["body"]) for m in messages[1:] if m["type"] == "http.response.body")
    assert announced == framing + 2 + 3


def test_empty_file_sends_an_empty_body(site_root: Path) -> None:
    messages = call(StaticFiles(site_root), scope_for(b"/empty.txt", extensions=ZEROCOPY))
    assert zerocopy_view(messages) == [("body", b"", False)]


def test_head_sends_no_file(site_root: Path) -> None:
    scope = scope_for(b"/digits.txt", "HEAD", extensions=ZEROCOPY)
    assert zerocopy_view(call(StaticFiles(site_root), scope)) == [("body", b"", False)]


def test_whole_file_by_pathsend(site_root: Path) -> None:
    messages = call(StaticFiles(site_root), scope_for(b"/link_in", extensions=PATHSEND))
    assert messages[1:] == [
        {"type": "http.response.pathsend", "path": str((site_root / "hello.txt").resolve())}
    ]


def test_ranges_do_not_use_pathsend(site_root: Path) -> None:
    scope = scope_for(b"/hello.txt", headers=[(b"range", b"bytes=0-4")], extensions=PATHSEND)
    messages = call(StaticFiles(site_root), scope)
    assert messages[1:] == [{"type": "http.response.body", "body": b"Hello", "more_body": False}]


def test_zerocopysend_preferred_over_pathsend(site_root: Path) -> None:
    scope = scope_for(b"/hello.txt", extensions={**ZEROCOPY, **PATHSEND})
    assert zerocopy_view(call(StaticFiles(site_root), scope)) == [("file", 0, 14, False)]


def test_fallback_reads_bounded_pieces(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 5)
    (tmp_path / "big.bin").write_bytes(data)
    messages = call(StaticFiles(tmp_path), scope_for(b"/big.bin"))
    bodies = [m["body"] for m in messages[1:]]
    assert [len(b) for b in bodies] == [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 5]
    assert [m["more_body"] for m in messages[1:]] == [True, True, True, False]
    assert b"".join(bodies) == data


def test_file_that_shrinks_aborts_the_response(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            body = FileBody(fd, str(path), 20, [ByteRange(0, 19)])
            await BodyWriter(send, {}).send_file(body)
        finally:
            os.close(fd)

    with pytest.raises(FileShrankError, match="10 bytes early"):
        asyncio.run(run())
    assert sent == [{"type": "http.response.body", "body": b"x" * 10, "more_body": True}]


SEND_MODES = {
    "zerocopysend": ("http.response.pathsend",),
    "pathsend": ("http.response.zerocopysend",),
    "chunked": ZERO_COPY_EXTENSIONS,
}


@pytest.mark.parametrize("mode", list(SEND_MODES))
def test_large_file_over_a_real_server(loop_name: str, tmp_path: Path, mode: str) -> None:
    data = os.urandom(5 * CHUNK_SIZE + 123)
    (tmp_path / "big.bin").write_bytes(data)
    app = hiding_extensions(StaticFiles(tmp_path), SEND_MODES[mode])
    with serving(app, loop_name) as running, connect(running.port) as sock:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[1] == data
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=65530-65545\r\n\r\n")
        assert read_response(sock)[1] == data[65530:65546]
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,-2\r\n\r\n")
        head, body = read_response(sock)
        boundary = head.split(b"boundary=")[1].split(b"\r\n")[0]
        assert body.endswith(data[-2:] + b"\r\n--" + boundary + b"--\r\n")


def test_unknown_scope_type_is_refused(site_root: Path) -> None:
    async def run() -> None:
        async def receive() -> dict[str, Any]:
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            raise AssertionError

        await StaticFiles(site_root)({"type": "websocket"}, receive, send)

    with pytest.raises(ValueError, match="HTTP only"):
        asyncio.run(run())
