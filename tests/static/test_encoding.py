"""Content codings: precompressed siblings by Accept-Encoding, and gzip on the fly."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ferry.static import StaticFiles
from ferry.static._encoding import accepted_codings
from ferry.static._negotiation import weights
from tests.support import ServerThread, serving

from ._http import request
from .conftest import HELLO, LAST_MODIFIED, STYLE, etag_of

APP_JS = b"console.log('identity');\n" * 60


@pytest.mark.parametrize(
    ("accept", "codings"),
    [
        ("", []),
        ("gzip", ["gzip"]),
        ("gzip, br", ["br", "gzip"]),  # equal weights: our order
        ("gzip, deflate, br, zstd", ["zstd", "br", "gzip"]),
        ("br;q=0.5, gzip", ["gzip", "br"]),
        ("br;q=0, gzip", ["gzip"]),
        ("*", ["zstd", "br", "gzip"]),
        ("*;q=0.1, gzip;q=0", ["zstd", "br"]),
        ("BR", ["br"]),
        ("gzip;q=bad", []),
        ("identity", []),
    ],
)
def test_accepted_codings(accept: str, codings: list[str]) -> None:
    assert [coding for coding, _ in accepted_codings(accept)] == codings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip;q=7, br;q=-1", {"gzip": 1.0, "br": 0.0}),
        ("text/html;level=1;q=0.5, ,*/*", {"text/html": 0.5, "*/*": 1.0}),
        ("a;q=x, B ; Q=0.25", {"a": 0.0, "b": 0.25}),
        ("", {}),
    ],
)
def test_weights(value: str, expected: dict[str, float]) -> None:
    assert weights(value) == expected


@pytest.mark.parametrize(
    ("accept", "body", "coding", "sibling"),
    [
        ("br, gzip", b"BROTLI-BYTES", "br", "app.js.br"),
        ("gzip", b"GZIP-BYTES", "gzip", "app.js.gz"),
        ("zstd, br;q=0.9", b"BROTLI-BYTES", "br", "app.js.br"),  # no .zst on disk
    ],
)
def test_precompressed_sibling(
    server: ServerThread, site_root: Path, accept: str, body: bytes, coding: str, sibling: str
) -> None:
    response = request(server.port, "/app.js", headers={"Accept-Encoding": accept})
    assert response.status == 200
    assert response.headers == [
        ("content-type", "text/javascript; charset=utf-8"),
        ("content-encoding", coding),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / sibling)),
        ("accept-ranges", "bytes"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    assert response.body == body


def test_identity_when_nothing_is_accepted(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/app.js", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    assert response.header("content-encoding") is None
    assert response.header("vary") == "Accept-Encoding"
    assert response.header("etag") == etag_of(site_root / "app.js")
    assert response.body == APP_JS


def test_ranges_apply_to_the_precompressed_representation(server: ServerThread) -> None:
    headers = {"Accept-Encoding": "br", "Range": "bytes=0-5"}
    response = request(server.port, "/app.js", headers=headers)
    assert response.status == 206
    assert response.header("content-encoding") == "br"
    assert response.header("content-range") == "bytes 0-5/12"
    assert response.body == b"BROTLI"


def test_gzip_on_the_fly(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/style.css", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers == [
        ("content-type", "text/css; charset=utf-8"),
        ("content-encoding", "gzip"),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / "style.css", "-gzip")),
        ("accept-ranges", "bytes"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
    ]
    assert gzip.decompress(response.body) == STYLE
    assert len(response.body) < len(STYLE) // 3


def test_gzip_output_is_deterministic(server: ServerThread) -> None:
    first = request(server.port, "/style.css", headers={"Accept-Encoding": "gzip"})
    second = request(server.port, "/style.css", headers={"Accept-Encoding": "gzip"})
    assert first.body == second.body


def test_gzip_representation_is_revalidated(server: ServerThread, site_root: Path) -> None:
    headers = {
        "Accept-Encoding": "gzip",
        "If-None-Match": etag_of(site_root / "style.css", "-gzip"),
    }
    assert request(server.port, "/style.css", headers=headers).status == 304
    # The identity ETag does not validate the gzip representation.
    headers["If-None-Match"] = etag_of(site_root / "style.css")
    assert request(server.port, "/style.css", headers=headers).status == 200


def test_range_gets_identity_bytes_not_gzip(server: ServerThread) -> None:
    headers = {"Accept-Encoding": "gzip", "Range": "bytes=0-9"}
    response = request(server.port, "/style.css", headers=headers)
    assert response.status == 206
    assert response.header("content-encoding") is None
    assert response.header("vary") == "Accept-Encoding"
    assert response.body == STYLE[:10]


def test_small_files_are_not_compressed(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", headers={"Accept-Encoding": "gzip"})
    assert response.header("content-encoding") is None
    assert response.body == HELLO


def test_compression_can_be_turned_off(site_root: Path) -> None:
    app = StaticFiles(site_root, gzip=False, precompressed=False)
    with serving(app) as running:
        for path, body in (("/style.css", STYLE), ("/app.js", APP_JS)):
            response = request(running.port, path, headers={"Accept-Encoding": "gzip, br"})
            assert response.header("content-encoding") is None
            assert response.header("vary") is None
            assert response.body == body


def test_precompressed_sibling_must_stay_in_the_root(tmp_path: Path) -> None:
    (tmp_path / "outside.gz").write_bytes(b"OUTSIDE")
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.html").write_bytes(b"<p>identity</p>")
    (root / "page.html.gz").symlink_to(tmp_path / "outside.gz")
    with serving(StaticFiles(root)) as running:
        response = request(running.port, "/page.html", headers={"Accept-Encoding": "gzip"})
    assert response.header("content-encoding") is None
    assert response.body == b"<p>identity</p>"


def test_head_of_a_gzipped_file_mirrors_get(server: ServerThread) -> None:
    headers = {"Accept-Encoding": "gzip"}
    get = request(server.port, "/style.css", headers=headers)
    head = request(server.port, "/style.css", "HEAD", headers=headers)
    assert (head.status, head.body) == (200, b"")
    assert head.header("content-encoding") == "gzip"
    assert head.header("etag") == get.header("etag")
