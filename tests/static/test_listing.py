"""Directories: the slash redirect, index.html, HTML and JSON listings, turning them off."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ferry.static import StaticFiles
from ferry.static._listing import SortOrder, wants_json
from tests.support import ServerThread, serving

from ._http import request


def rows(body: bytes) -> list[str]:
    """The listed names, in order, as shown (escaped) in the page."""
    return re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a>', body.decode())


def test_directory_without_slash_redirects(server: ServerThread) -> None:
    response = request(server.port, "/sub?sort=size&order=desc")
    assert response.status == 301
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("location", "/sub/?sort=size&order=desc"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "22"),
        ("Connection", "close"),
    ]
    assert response.body == b"301 Moved Permanently\n"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/sub/a%20dir", "/sub/a%20dir/"),
        ("//sub", "/sub/"),  # rebuilt from the segments: never "//host/"
        ("/sub//a%20dir", "/sub/a%20dir/"),
    ],
)
def test_redirect_location_is_rebuilt(server: ServerThread, target: str, location: str) -> None:
    assert request(server.port, target).header("location") == location


def test_index_html_is_served(server: ServerThread) -> None:
    response = request(server.port, "/site/")
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.body == b"<!doctype html><title>site</title>\n"


def test_html_listing(server: ServerThread) -> None:
    response = request(server.port, "/sub/")
    assert response.status == 200
    etag = response.header("etag")
    assert etag is not None
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert response.headers == [
        ("content-type", "text/html; charset=utf-8"),
        ("etag", etag),
        ("cache-control", "no-cache"),
        ("vary", "Accept"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", str(len(response.body))),
        ("Connection", "close"),
    ]
    page = response.body.decode()
    assert "<title>Index of /sub/</title>" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert rows(response.body) == [
        "../",
        "a dir/",
        "&lt;b&gt;&amp;&#x27;x&quot;.txt",
        "a.txt",
        "b.txt",
    ]
    assert (
        '<tr><td class="name"><a href="%3Cb%3E%26%27x%22.txt">&lt;b&gt;&amp;&#x27;x&quot;.txt'
        '</a></td><td class="size">2 B</td>'
    ) in page
    assert '<a href="a%20dir/">a dir/</a></td><td class="size"></td>' in page
    assert '<td class="size">2.0 KiB</td>' in page  # a.txt, 2000 bytes
    assert ".hidden" not in page


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["a dir/", "&lt;b&gt;&amp;&#x27;x&quot;.txt", "a.txt", "b.txt"]),
        ("?sort=name&order=desc", ["a dir/", "b.txt", "a.txt", "&lt;b&gt;&amp;&#x27;x&quot;.txt"]),
        ("?sort=size", ["a dir/", "&lt;b&gt;&amp;&#x27;x&quot;.txt", "b.txt", "a.txt"]),
        ("?sort=size&order=desc", ["a dir/", "a.txt", "b.txt", "&lt;b&gt;&amp;&#x27;x&quot;.txt"]),
        (
            "?sort=bogus&order=sideways",
            ["a dir/", "&lt;b&gt;&amp;&#x27;x&quot;.txt", "a.txt", "b.txt"],
        ),
    ],
)
def test_listing_sorts(server: ServerThread, query: str, names: list[str]) -> None:
    assert rows(request(server.port, "/sub/" + query).body)[1:] == names


def test_sort_links_flip_the_current_column(server: ServerThread) -> None:
    page = request(server.port, "/sub/?sort=size").body.decode()
    assert '<th class="size"><a href="?sort=size&amp;order=desc">Size</a></th>' in page
    assert '<th class="name"><a href="?sort=name&amp;order=asc">Name</a></th>' in page


def test_root_listing_has_no_parent_link(server: ServerThread) -> None:
    names = rows(request(server.port, "/").body)
    assert names[0] != "../"
    assert "link_in" in names
    assert "link_out" not in names  # points outside the root
    assert "link_hidden" not in names
    assert ".secret" not in names


def test_json_listing(server: ServerThread) -> None:
    response = request(server.port, "/sub/", headers={"Accept": "application/json"})
    assert response.header("content-type") == "application/json"
    assert response.header("vary") == "Accept"
    assert json.loads(response.body) == {
        "path": "/sub/",
        "entries": [
            {
                "name": "a dir",
                "type": "directory",
                "size": None,
                "modified": "2023-11-14T22:13:20Z",
            },
            {"name": "<b>&'x\".txt", "type": "file", "size": 2, "modified": "2023-11-14T22:13:20Z"},
            {"name": "a.txt", "type": "file", "size": 2000, "modified": "2023-11-14T22:13:20Z"},
            {"name": "b.txt", "type": "file", "size": 3, "modified": "2023-11-14T22:13:20Z"},
        ],
    }


def test_head_listing_has_no_body(server: ServerThread) -> None:
    get = request(server.port, "/sub/")
    head = request(server.port, "/sub/", "HEAD")
    assert (head.status, head.headers, head.body) == (200, get.headers, b"")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json, text/html;q=0.5", True),
        ("text/html, application/json", False),
        ("application/json;q=0", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_wants_json(accept: str, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_sort_order_from_query() -> None:
    assert SortOrder.from_query(b"sort=modified&order=desc") == SortOrder("modified", True)
    assert SortOrder.from_query(b"%ff=%ff") == SortOrder()


def test_listings_off_is_404(site_root: Path) -> None:
    with serving(StaticFiles(site_root, listings=False)) as running:
        assert request(running.port, "/sub/").status == 404
        assert request(running.port, "/site/").status == 200  # index.html still served


def test_index_off_lists_the_directory(site_root: Path) -> None:
    with serving(StaticFiles(site_root, index=None)) as running:
        assert rows(request(running.port, "/site/").body) == ["../", "index.html"]


# -- validators: no-cache with an ETag over the entries shown -----------------------------


def test_listing_if_none_match_is_304(server: ServerThread) -> None:
    etag = request(server.port, "/sub/").header("etag")
    assert etag is not None
    assert request(server.port, "/sub/").header("etag") == etag  # the same listing, the same tag
    for method in ("GET", "HEAD"):
        response = request(server.port, "/sub/", method, headers={"If-None-Match": etag})
        assert (response.status, response.body) == (304, b"")
        assert response.headers == [
            ("etag", etag),
            ("cache-control", "no-cache"),
            ("vary", "Accept"),
            ("Server", "ferry"),
            ("Connection", "close"),
        ]
    other = request(server.port, "/sub/", headers={"If-None-Match": '"other", W/' + etag})
    assert other.status == 304  # RFC 9110 §13.1.2: the weak comparison
    assert request(server.port, "/sub/", headers={"If-None-Match": '"other"'}).status == 200


def test_listing_if_match_and_dates(server: ServerThread) -> None:
    etag = request(server.port, "/sub/").header("etag")
    assert etag is not None
    assert request(server.port, "/sub/", headers={"If-Match": etag}).status == 200
    assert request(server.port, "/sub/", headers={"If-Match": '"other"'}).status == 412
    # No Last-Modified, so the date preconditions are ignored (RFC 9110 §13.1.3, §13.1.4).
    future = "Sun, 01 Jan 2090 00:00:00 GMT"
    past = "Mon, 01 Jan 1990 00:00:00 GMT"
    assert request(server.port, "/sub/", headers={"If-Modified-Since": future}).status == 200
    assert request(server.port, "/sub/", headers={"If-Unmodified-Since": past}).status == 200


def test_listing_etag_differs_per_representation(server: ServerThread) -> None:
    html_tag = request(server.port, "/sub/").header("etag")
    json_tag = request(server.port, "/sub/", headers={"Accept": "application/json"}).header("etag")
    sorted_tag = request(server.port, "/sub/?sort=size").header("etag")
    root_tag = request(server.port, "/").header("etag")
    assert len({html_tag, json_tag, sorted_tag, root_tag}) == 4
    json_304 = request(
        server.port,
        "/sub/",
        headers={"Accept": "application/json", "If-None-Match": html_tag or ""},
    )
    assert json_304.status == 200  # the HTML page's tag does not validate the JSON one


def test_a_changed_directory_changes_the_etag(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    os.utime(tmp_path / "a.txt", (1_700_000_000, 1_700_000_000))
    with serving(StaticFiles(tmp_path)) as running:
        seen = []

        def tag() -> str:
            etag = request(running.port, "/").header("etag")
            assert etag is not None
            seen.append(etag)
            return etag

        first = tag()
        assert tag() == first
        (tmp_path / "b.txt").write_bytes(b"b")  # added
        added = tag()
        (tmp_path / "b.txt").write_bytes(b"bb")  # resized
        os.utime(tmp_path / "b.txt", (1_700_000_000, 1_700_000_000))
        tag()
        os.utime(tmp_path / "b.txt", (1_700_000_001, 1_700_000_001))  # touched
        tag()
        (tmp_path / "b.txt").rename(tmp_path / "c.txt")  # renamed
        tag()
        (tmp_path / "c.txt").unlink()  # removed: the first listing again
        assert tag() == first
        (tmp_path / "sub").mkdir()  # a directory
        tag()
        assert len(set(seen)) == len(seen) - 2  # every change a new tag (but the repeats)
        response = request(running.port, "/", headers={"If-None-Match": added})
        assert response.status == 200  # a stale tag gets the new page
        assert response.header("etag") == seen[-1]
