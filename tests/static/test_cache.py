"""The per-path cache (static/_cache.py): a repeated request costs one stat, and is never
served stale or from outside the root.

Each test first checks that the path is cached (else it would pass without the cache),
then changes the file system under it. ``settle_ns = 0`` lets a file cache at once: the
files here were just written, and the default (2 s) keeps such files out of the cache.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.static import StaticFiles
from ferry.static._cache import FileCache, FileEntry, GzipVariant
from tests.support import ServerThread, exchange, serving

from ._http import parse_response, request

SECRET = b"outside the root\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside" / "page.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "page.txt").write_bytes(b"version one\n")
    (root / "dir" / "page.txt").write_bytes(b"in dir\n")
    (root / "script.js").write_bytes(b"console.log(1);\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB: not kept in memory
    return root


@pytest.fixture
def app(root: Path) -> StaticFiles:
    app = StaticFiles(root)
    app._cache.settle_ns = 0
    return app


@pytest.fixture
def server(app: StaticFiles, loop_name: str) -> Iterator[ServerThread]:
    with serving(app, loop_name) as running:
        yield running


def cached(app: StaticFiles, path: bytes) -> FileEntry | None:
    return app._cache.get(path)


def test_a_repeated_request_is_answered_from_the_cache(
    server: ServerThread, app: StaticFiles
) -> None:
    first = request(server.port, "/page.txt")
    entry = cached(app, b"/page.txt")
    assert entry is not None
    assert entry.body == b"version one\n"
    second = request(server.port, "/page.txt")
    assert (second.status, second.headers, second.body) == (
        first.status,
        first.headers,
        first.body,
    )


def test_an_edited_file_is_served_fresh(server: ServerThread, app: StaticFiles, root: Path) -> None:
    request(server.port, "/page.txt")
    assert cached(app, b"/page.txt") is not None
    (root / "page.txt").write_bytes(b"version two, longer\n")
    response = request(server.port, "/page.txt")
    assert response.body == b"version two, longer\n"
    assert response.header("content-length") == "20"


def test_an_edit_keeping_size_and_mtime_is_served_fresh(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    # Two changes within one tick of a coarse file-system clock can leave the identity as
    # it was (the ctime too): a file that changed lately is therefore not cached at all.
    app._cache.settle_ns = 2_000_000_000  # the default
    page = root / "page.txt"
    os.utime(page, ns=(1_700_000_000_000_000_000,) * 2)
    assert request(server.port, "/page.txt").body == b"version one\n"
    page.write_bytes(b"VERSION ONE\n")  # same size, mtime set back: only the ctime moves
    os.utime(page, ns=(1_700_000_000_000_000_000,) * 2)
    assert request(server.port, "/page.txt").body == b"VERSION ONE\n"
    assert cached(app, b"/page.txt") is None


def test_a_big_file_is_cached_without_its_bytes_and_served_fresh(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    request(server.port, "/big.bin")
    entry = cached(app, b"/big.bin")
    assert entry is not None
    assert entry.body is None
    (root / "big.bin").write_bytes(b"small now")
    assert request(server.port, "/big.bin").body == b"small now"


def test_a_file_replaced_by_a_link_leading_outside_is_refused(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    request(server.port, "/page.txt")
    assert cached(app, b"/page.txt") is not None
    (root / "page.txt").unlink()
    os.symlink("../outside/secret.txt", root / "page.txt")
    response = request(server.port, "/page.txt")
    assert (response.status, response.body) == (404, b"404 Not Found\n")
    assert cached(app, b"/page.txt") is None


def test_a_directory_replaced_by_a_link_leading_outside_is_refused(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    assert request(server.port, "/dir/page.txt").body == b"in dir\n"
    assert cached(app, b"/dir/page.txt") is not None
    (root / "dir").rename(root / "old_dir")
    os.symlink("../outside", root / "dir")  # holds a page.txt too
    response = request(server.port, "/dir/page.txt")
    assert (response.status, response.body) == (404, b"404 Not Found\n")


@pytest.mark.parametrize("name", ["page.txt", "big.bin"])  # kept in memory, or not
def test_a_deleted_file_is_404(
    server: ServerThread, app: StaticFiles, root: Path, name: str
) -> None:
    request(server.port, f"/{name}")
    assert cached(app, f"/{name}".encode()) is not None
    (root / name).unlink()
    assert request(server.port, f"/{name}").status == 404
    assert cached(app, f"/{name}".encode()) is None


def test_a_precompressed_sibling_made_later_is_served(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    assert request(server.port, "/script.js", headers=gzip).body == b"console.log(1);\n"
    entry = cached(app, b"/script.js")
    assert entry is not None
    assert entry.siblings_absent_in is not None
    (root / "script.js.gz").write_bytes(b"GZIP")
    # Creating it changed the directory's mtime; set it apart for a coarse clock.
    os.utime(root, ns=(1_600_000_000_000_000_000,) * 2)
    response = request(server.port, "/script.js", headers=gzip)
    assert (response.header("content-encoding"), response.body) == ("gzip", b"GZIP")


def test_conditional_requests_from_the_cache(server: ServerThread, app: StaticFiles) -> None:
    etag = request(server.port, "/page.txt").header("etag")
    assert etag is not None
    assert cached(app, b"/page.txt") is not None
    not_modified = request(server.port, "/page.txt", headers={"If-None-Match": etag})
    assert (not_modified.status, not_modified.body) == (304, b"")
    assert not_modified.headers == [
        ("etag", etag),
        ("vary", "Accept-Encoding"),
        ("Server", "ferry"),
        ("Connection", "close"),
    ]
    failed = request(server.port, "/page.txt", headers={"If-Match": '"other"'})
    assert failed.status == 412
    ranged = request(server.port, "/page.txt", headers={"Range": "bytes=0-6"})
    assert (ranged.status, ranged.body) == (206, b"version")
    # A big file is opened before its validators are compared: the 304 closes it.
    big_etag = request(server.port, "/big.bin").header("etag") or ""
    big = request(server.port, "/big.bin", headers={"If-None-Match": big_etag})
    assert (big.status, big.body, cached(app, b"/big.bin") is not None) == (304, b"", True)


def test_requests_taking_the_full_route_keep_the_entry(
    server: ServerThread, app: StaticFiles
) -> None:
    request(server.port, "/script.js")
    entry = cached(app, b"/script.js")
    assert entry is not None
    ranged = request(server.port, "/script.js", headers={"Range": "bytes=-3"})
    assert (ranged.status, ranged.body) == (206, b");\n")
    assert cached(app, b"/script.js") is entry  # not made again (nor the file read again)


def test_a_recently_changed_file_is_not_cached(root: Path) -> None:
    app = StaticFiles(root)  # the default settle time: the files were just written
    with serving(app) as running:
        assert request(running.port, "/page.txt").status == 200
    assert len(app._cache) == 0


def entry(body: bytes | None) -> FileEntry:
    return FileEntry(
        path="/p",
        real="/p",
        identity=(1, 2, 3, 4, 5),
        etag='"e"',
        mtime=0,
        head=(),
        not_modified=(),
        body=body,
        document=False,
        negotiated=False,
        gzip_eligible=False,
        siblings_absent_in=None,
    )


def test_the_cache_holds_at_most_max_entries_least_recently_used_first() -> None:
    cache = FileCache(max_entries=3)
    for key in (b"/a", b"/b", b"/c"):
        cache.put(key, entry(None))
    assert cache.get(b"/a") is not None  # /a is now the most recently used
    cache.put(b"/d", entry(None))
    assert len(cache) == 3
    assert [key in cache for key in (b"/a", b"/b", b"/c", b"/d")] == [True, False, True, True]


def test_the_cache_holds_at_most_max_body_bytes() -> None:
    cache = FileCache(max_body_bytes=100)
    cache.put(b"/a", entry(b"a" * 60))
    cache.put(b"/b", entry(b"b" * 30))
    assert cache.body_bytes == 90
    cache.put(b"/c", entry(b"c" * 30))  # 120 > 100: /a goes
    assert (b"/a" in cache, cache.body_bytes) == (False, 60)
    cache.put(b"/b", entry(b"B" * 10))  # replacing counts the new body only
    assert cache.body_bytes == 40
    cache.put(b"/huge", entry(b"h" * 101))  # alone over budget: kept without its bytes
    huge = cache.get(b"/huge")
    assert huge is not None
    assert (huge.body, cache.body_bytes) == (None, 40)


CSS = b"body { color: red; }\n" * 100  # over gzip_min_size, under 64 KiB


def raw_get(port: int, target: str, **fields: str) -> bytes:
    """The whole response as sent (framing included), Date and Server-Timing aside."""
    lines = [f"GET {target} HTTP/1.1", "Host: t", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in fields.items()]
    raw = exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    return re.sub(rb"\r\n(Date|server-timing): [^\r]*", b"", raw)


def test_gzip_on_the_fly_from_the_cache_is_what_the_full_route_sends(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    (root / "style.css").write_bytes(CSS)
    full_route = raw_get(server.port, "/style.css", Accept_Encoding="gzip")
    entry = cached(app, b"/style.css")
    assert entry is not None
    assert entry.gzip is not None
    assert entry.gzip.pieces is None  # made on the first request served from the cache
    from_cache = raw_get(server.port, "/style.css", Accept_Encoding="gzip")
    assert entry.gzip.pieces is not None
    assert from_cache == full_route  # the same fields, framing (chunked) and bytes
    response = parse_response(from_cache)
    assert (response.header("content-encoding"), gzip.decompress(response.body)) == ("gzip", CSS)
    etag = response.header("etag")
    assert etag is not None
    assert etag.endswith('-gzip"')
    not_modified = request(
        server.port, "/style.css", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert (not_modified.status, not_modified.header("etag")) == (304, etag)
    identity = request(server.port, "/style.css")
    assert (identity.header("content-encoding"), identity.body) == (None, CSS)


def test_gzip_from_the_cache_follows_an_edit(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    (root / "style.css").write_bytes(CSS)
    for _ in range(2):
        request(server.port, "/style.css", headers={"Accept-Encoding": "gzip"})
    (root / "style.css").write_bytes(CSS.upper() + b"/* longer */")
    response = request(server.port, "/style.css", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(response.body) == CSS.upper() + b"/* longer */"


def test_an_existing_sibling_is_always_considered(
    server: ServerThread, app: StaticFiles, root: Path
) -> None:
    (root / "script.js.br").write_bytes(b"BROTLI")
    request(server.port, "/script.js")
    entry = cached(app, b"/script.js")
    assert entry is not None
    assert entry.siblings_absent_in is None
    response = request(server.port, "/script.js", headers={"Accept-Encoding": "br"})
    assert (response.header("content-encoding"), response.body) == ("br", b"BROTLI")
    identity = request(server.port, "/script.js", headers={"Accept-Encoding": "gzip"})
    assert (identity.header("content-encoding"), identity.body) == (None, b"console.log(1);\n")


def test_without_precompressed_siblings_accept_encoding_is_answered_from_the_cache(
    root: Path,
) -> None:
    (root / "script.js.gz").write_bytes(b"GZIP")
    app = StaticFiles(root, precompressed=False)
    app._cache.settle_ns = 0
    with serving(app) as running:
        request(running.port, "/script.js")
        entry = cached(app, b"/script.js")
        response = request(running.port, "/script.js", headers={"Accept-Encoding": "gzip"})
        assert cached(app, b"/script.js") is entry
    assert (response.header("content-encoding"), response.body) == (None, b"console.log(1);\n")


def test_gzip_pieces_count_in_the_byte_budget() -> None:
    cache = FileCache(max_body_bytes=100)
    with_gzip = entry(b"a" * 50)
    with_gzip.gzip = GzipVariant(etag='"g"', head=(), not_modified=())
    cache.put(b"/a", with_gzip)
    cache.put(b"/b", entry(b"b" * 30))
    pieces = cache.gzipped(b"/a", with_gzip.gzip, lambda: (b"x" * 10, b"y" * 5))
    assert (pieces, cache.body_bytes) == ((b"x" * 10, b"y" * 5), 95)
    assert cache.gzipped(b"/a", with_gzip.gzip, lambda: (b"never made",)) is pieces
    cache.put(b"/c", entry(b"c" * 10))  # 105 > 100: /a, the least recently used, goes
    assert (b"/a" in cache, cache.body_bytes) == (False, 40)


def test_one_stat_per_entry_and_loop_turn(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Requests handled in one turn of the event loop share one stat of their file; the
    # next turn stats again, and sees a change made in between.
    page = root / "page.txt"
    st = page.stat()
    cache = FileCache()
    known = entry(b"version one\n")
    known.path = str(page)
    known.identity = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path: str) -> os.stat_result:
        stats.append(path)
        return real_stat(path)

    monkeypatch.setattr(os, "stat", counting_stat)

    async def turns() -> list[bool]:
        seen = [cache.unchanged(known), cache.unchanged(known), cache.unchanged(known)]
        assert len(stats) == 1
        await asyncio.sleep(0)  # the next turn
        page.write_bytes(b"version two, longer\n")
        seen += [cache.unchanged(known), cache.unchanged(known)]
        return seen

    assert asyncio.run(turns()) == [True, True, True, False, False]
    assert len(stats) == 3  # a changed file is not remembered as checked
    assert cache.unchanged(known) is False  # outside a loop: a stat each time
    assert len(stats) == 4
