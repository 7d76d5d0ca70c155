"""Path safety: nothing outside the root, no dot-files, no leaks, over a real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ferry.static import StaticFiles
from ferry.static._files import PathRefused, parse_request_path
from tests.support import ServerThread, serving

from ._http import request
from .conftest import HELLO, SECRET

NOT_FOUND = b"404 Not Found\n"
BAD_REQUEST = b"400 Bad Request\n"

# (request target, status). 400: not a well-formed path; 404: well-formed, not served.
MALICIOUS = [
    ("/../outside/secret.txt", 404),
    ("/%2e%2e/outside/secret.txt", 404),
    ("/%2E%2E/outside/secret.txt", 404),
    ("/.%2e/outside/secret.txt", 404),
    ("/%2e./outside/secret.txt", 404),
    ("/..%2foutside/secret.txt", 404),
    ("/..%2Foutside%2Fsecret.txt", 404),
    ("/%2e%2e%2foutside%2fsecret.txt", 404),
    ("/..%5coutside%5csecret.txt", 404),
    ("/%2e%2e%5coutside%5csecret.txt", 404),
    ("/sub/../../outside/secret.txt", 404),
    ("/sub/%2e%2e/%2e%2e/outside/secret.txt", 404),
    ("/sub%2f..%2f..%2foutside%2fsecret.txt", 404),
    ("/%252e%252e/outside/secret.txt", 404),  # double encoding: a literal "%2e%2e"
    ("/..;/outside/secret.txt", 404),
    ("/%c0%ae%c0%ae/outside/secret.txt", 400),  # overlong UTF-8 for "."
    ("/..%c0%afoutside/secret.txt", 400),  # overlong UTF-8 for "/"
    ("/%e0%80%ae%e0%80%ae/outside/secret.txt", 400),  # 3-byte overlong "."
    ("/%ed%a0%80/hello.txt", 400),  # an encoded UTF-16 surrogate
    ("/%ff/hello.txt", 400),  # not UTF-8 at all
    ("/hello.txt%00.png", 400),
    ("/%00", 400),
    ("/hello.txt%0a", 400),
    ("//etc/passwd", 404),
    ("/%2fetc%2fpasswd", 404),
    ("/%2Fetc/passwd", 404),
    ("/etc/passwd", 404),
    ("/C:/Windows/win.ini", 404),
    ("/link_out", 404),
    ("/link_dir_out/secret.txt", 404),
    ("/link_hidden", 404),
    ("/.secret", 404),
    ("/%2esecret", 404),
    ("/.git/config", 404),
    ("/sub/.hidden", 404),
    ("/.", 404),
    ("/%2e", 404),
    ("/hello.txt/", 404),
    ("/hello.txt/..", 404),
    ("/fifo", 404),
]


def test_table_is_large_enough() -> None:
    assert len(MALICIOUS) >= 30


@pytest.mark.parametrize(("target", "status"), MALICIOUS)
def test_malicious_path_is_refused(server: ServerThread, target: str, status: int) -> None:
    response = request(server.port, target)
    assert response.status == status
    assert response.body == (NOT_FOUND if status == 404 else BAD_REQUEST)
    assert response.header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    "target",
    [
        b"/..\\outside\\secret.txt",
        b"/hello.txt\x00",
        b"/a b",
        b"/%u002e%u002e/outside/secret.txt",  # IIS-style, not percent-encoding
        b"/%2",
    ],
)
def test_targets_the_server_itself_rejects(server: ServerThread, target: bytes) -> None:
    # Raw backslashes, NUL, spaces and broken percent-encoding never reach the app:
    # Ferry's parser answers 400 (StaticFiles refuses them too, see below).
    response = request(server.port, target)
    assert response.status == 400
    assert SECRET not in response.body


def test_absolute_form_cannot_escape(server: ServerThread) -> None:
    response = request(server.port, "http://127.0.0.1/../outside/secret.txt")
    assert response.status in (400, 404)
    assert SECRET not in response.body


def test_symlink_inside_the_root_is_served(server: ServerThread) -> None:
    response = request(server.port, "/link_in")
    assert (response.status, response.body) == (200, HELLO)


def test_symlinks_outside_are_served_when_following_is_on(site_root: Path) -> None:
    app = StaticFiles(site_root, follow_symlinks=True)
    with serving(app) as running:
        assert request(running.port, "/link_out").body == SECRET
        assert request(running.port, "/link_dir_out/secret.txt").body == SECRET
        # Following links never makes ".." or encoded slashes work.
        assert request(running.port, "/%2e%2e/outside/secret.txt").status == 404


def test_hidden_files_are_served_when_shown(site_root: Path) -> None:
    with serving(StaticFiles(site_root, show_hidden=True)) as running:
        assert request(running.port, "/.secret").body == b"dot secret\n"
        assert request(running.port, "/link_hidden").body == b"dot secret\n"
        assert request(running.port, "/.git/config").body == b"[core]\n"


def test_permission_error_is_403_without_the_path(
    server: ServerThread, site_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.static import _app

    real_open = _app.open_file

    def open_file(path: str) -> tuple[int, os.stat_result]:
        if path.endswith("hello.txt"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path)

    monkeypatch.setattr(_app, "open_file", open_file)
    response = request(server.port, "/hello.txt")
    assert response.status == 403
    assert response.body == b"403 Forbidden\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_403(tmp_path: Path) -> None:
    (tmp_path / "locked.txt").write_bytes(b"no")
    (tmp_path / "locked.txt").chmod(0)
    with serving(StaticFiles(tmp_path)) as running:
        response = request(running.port, "/locked.txt")
    assert (response.status, response.body) == (403, b"403 Forbidden\n")


def test_missing_directory_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="static directory not found"):
        StaticFiles(tmp_path / "missing")


@pytest.mark.parametrize(
    ("raw", "segments", "trailing"),
    [
        (b"/", (), True),
        (b"/a/b", ("a", "b"), False),
        (b"/a//b/", ("a", "b"), True),
        (b"/caf%C3%A9/%20x", ("café", " x"), False),
        (b"/a%3Ab", ("a:b",), False),
    ],
)
def test_parse_request_path_accepts(raw: bytes, segments: tuple[str, ...], trailing: bool) -> None:
    parsed = parse_request_path(raw, show_hidden=False)
    assert (parsed.segments, parsed.trailing_slash) == (segments, trailing)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"a/b", 400),
        (b"*", 400),
        (b"/%u002e", 400),
        (b"/%2", 400),
        (b"/%zz", 400),
        (b"/a\\b", 404),
        (b"/a%5Cb", 404),
        (b"/%2e%2E", 404),
    ],
)
def test_parse_request_path_refuses(raw: bytes, status: int) -> None:
    with pytest.raises(PathRefused) as refused:
        parse_request_path(raw, show_hidden=False)
    assert refused.value.status == status
