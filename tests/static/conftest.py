"""A site on disk and a real Ferry server serving it with StaticFiles, on both loops.

Layout (under a temporary directory)::

    outside/secret.txt          must never be served
    root/                       the served directory
        hello.txt  digits.txt  empty.txt  style.css (4 KiB)  logo.png
        app.js  app.js.gz  app.js.br     precompressed siblings (fake contents)
        site/index.html
        sub/  b.txt  a.txt  "a dir"/  "<b>&'x\".txt"  .hidden
        .secret  .git/config
        link_in -> hello.txt             link_out -> ../outside/secret.txt
        link_dir_out -> ../outside       link_hidden -> .secret
        fifo                             a named pipe
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.asgi import ASGIApp, Receive, Scope, Send
from ferry.static import StaticFiles
from tests.support import LOOPS, ServerThread, serving

HELLO = b"Hello, world!\n"
DIGITS = b"0123456789" * 10
STYLE = b"".join(b".rule-%04d { color: #%06x; }\n" % (i, i * 997) for i in range(150))
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(64))
SECRET = b"TOP SECRET: outside the root\n"
# Every file gets this mtime, so Last-Modified is known to the tests.
MTIME = 1_700_000_000
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"


def build_site(base: Path) -> Path:
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    root = base / "root"
    for folder in ("site", "sub", "sub/a dir", ".git"):
        (root / folder).mkdir(parents=True)
    files = {
        "hello.txt": HELLO,
        "digits.txt": DIGITS,
        "empty.txt": b"",
        "style.css": STYLE,
        "logo.png": PNG,
        "app.js": b"console.log('identity');\n" * 60,
        "app.js.gz": b"GZIP-BYTES",
        "app.js.br": b"BROTLI-BYTES",
        "site/index.html": b"<!doctype html><title>site</title>\n",
        "sub/b.txt": b"bb\n",
        "sub/a.txt": b"a\n" * 1000,
        "sub/<b>&'x\".txt": b"x\n",
        "sub/.hidden": b"hidden\n",
        ".secret": b"dot secret\n",
        ".git/config": b"[core]\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    os.symlink("hello.txt", root / "link_in")
    os.symlink("../outside/secret.txt", root / "link_out")
    os.symlink("../outside", root / "link_dir_out")
    os.symlink(".secret", root / "link_hidden")
    os.mkfifo(root / "fifo")
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (MTIME, MTIME))
    return root


@pytest.fixture(scope="module")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("static"))


ZERO_COPY_EXTENSIONS = ("http.response.zerocopysend", "http.response.pathsend")


def hiding_extensions(app: ASGIApp, hidden: tuple[str, ...] = ZERO_COPY_EXTENSIONS) -> ASGIApp:
    """``app`` behind a scope without the ``hidden`` extensions (by default both zero-copy
    ones: the app then takes its chunked fallback)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = {
                name: value
                for name, value in scope.get("extensions", {}).items()
                if name not in hidden
            }
            scope = {**scope, "extensions": extensions}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture(
    scope="module",
    params=[(loop, send) for loop in LOOPS for send in ("zerocopy", "chunked")],
    ids=lambda param: "-".join(param),
)
def server(request: pytest.FixtureRequest, site_root: Path) -> Iterator[ServerThread]:
    """Ferry serving ``StaticFiles(site_root)`` with defaults: on each loop, once with the
    server's zero-copy sends and once through the chunked fallback."""
    loop, send = request.param
    app: ASGIApp = StaticFiles(site_root)
    if send == "chunked":
        app = hiding_extensions(app)
    with serving(app, loop) as running:
        yield running


def etag_of(path: Path, suffix: str = "") -> str:
    """The ETag StaticFiles must give ``path``: inode, size, mtime in ns, in hex."""
    st = path.stat()
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}{suffix}"'
