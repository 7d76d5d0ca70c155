"""Range requests, RFC 9110 §14: parsing, 206, multipart/byteranges byte for byte, 416."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry.static._ranges import MAX_RANGES, ByteRange, Unsatisfiable, parse_range
from tests.support import ServerThread

from ._http import request
from .conftest import DIGITS, LAST_MODIFIED, etag_of

SIZE = 100


@pytest.mark.parametrize(
    ("value", "ranges"),
    [
        ("bytes=0-0", [(0, 0)]),
        ("bytes=0-9", [(0, 9)]),
        ("bytes=90-", [(90, 99)]),
        ("bytes=-10", [(90, 99)]),
        ("bytes=-1000", [(0, 99)]),
        ("bytes=95-1000", [(95, 99)]),
        ("BYTES = 1-2", [(1, 2)]),
        ("bytes=0-1, 5-6", [(0, 1), (5, 6)]),
        ("bytes=5-6,0-1", [(0, 1), (5, 6)]),  # sorted
        ("bytes=0-5,3-9", [(0, 9)]),  # overlapping: merged
        ("bytes=0-4,5-9", [(0, 9)]),  # adjacent: merged
        ("bytes=0-99,0-99,0-99", [(0, 99)]),  # repeated: merged, no amplification
        ("bytes=0-1,,2-3", [(0, 3)]),  # empty list elements are allowed
        ("bytes=0-1,200-300", [(0, 1)]),  # the unsatisfiable one is dropped
    ],
)
def test_parse_range(value: str, ranges: list[tuple[int, int]]) -> None:
    assert parse_range(value, SIZE) == [ByteRange(*r) for r in ranges]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "bytes",
        "bytes=",
        "items=0-1",
        "bytes=a-b",
        "bytes=5-1",  # last-pos before first-pos
        "bytes=-",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes= 0x1-2",
        "bytes=" + ",".join(["0-0"] * (MAX_RANGES + 1)),  # too many: ignored
        "bytes=" + "9" * 5000 + "-",  # longer than int() accepts
    ],
)
def test_ignored_range(value: str) -> None:
    assert parse_range(value, SIZE) is None


@pytest.mark.parametrize(
    ("value", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-5", 0)]
)
def test_unsatisfiable_range(value: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(value, size)


def test_single_range_exact(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/digits.txt", headers={"Range": "bytes=10-19"})
    assert response.status == 206
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-range", "bytes 10-19/100"),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / "digits.txt")),
        ("accept-ranges", "bytes"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "10"),
        ("Connection", "close"),
    ]
    assert response.body == DIGITS[10:20]


@pytest.mark.parametrize(
    ("value", "content_range", "body"),
    [
        ("bytes=-3", "bytes 97-99/100", DIGITS[97:]),
        ("bytes=98-", "bytes 98-99/100", DIGITS[98:]),
        ("bytes=0-5,3-9", "bytes 0-9/100", DIGITS[:10]),
        ("bytes=50-9999", "bytes 50-99/100", DIGITS[50:]),
    ],
)
def test_single_range_forms(
    server: ServerThread, value: str, content_range: str, body: bytes
) -> None:
    response = request(server.port, "/digits.txt", headers={"Range": value})
    assert (response.status, response.header("content-range"), response.body) == (
        206,
        content_range,
        body,
    )
    assert response.header("content-length") == str(len(body))


def test_multipart_byteranges_exact(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/digits.txt", headers={"Range": "bytes=90-,0-2,5-5"})
    assert response.status == 206
    content_type = response.header("content-type")
    assert content_type is not None
    prefix = "multipart/byteranges; boundary="
    assert content_type.startswith(prefix)
    boundary = content_type.removeprefix(prefix)
    assert len(boundary) == 24
    assert boundary.isalnum()
    part_type = b"Content-Type: text/plain; charset=utf-8\r\n"
    expected = (
        b"--%s\r\n%sContent-Range: bytes 0-2/100\r\n\r\n012"
        b"\r\n--%s\r\n%sContent-Range: bytes 5-5/100\r\n\r\n5"
        b"\r\n--%s\r\n%sContent-Range: bytes 90-99/100\r\n\r\n0123456789"
        b"\r\n--%s--\r\n"
    ) % (
        boundary.encode(),
        part_type,
        boundary.encode(),
        part_type,
        boundary.encode(),
        part_type,
        boundary.encode(),
    )
    assert response.body == expected
    assert response.headers == [
        ("content-type", content_type),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / "digits.txt")),
        ("accept-ranges", "bytes"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", str(len(expected))),
        ("Connection", "close"),
    ]


def test_multipart_boundaries_differ(server: ServerThread) -> None:
    headers = {"Range": "bytes=0-0,2-2"}
    first = request(server.port, "/digits.txt", headers=headers).header("content-type")
    second = request(server.port, "/digits.txt", headers=headers).header("content-type")
    assert first != second


def test_many_small_ranges_cost_bounded_bytes(server: ServerThread) -> None:
    # MAX_RANGES disjoint one-byte ranges: each part's framing is sent once, no more.
    value = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(MAX_RANGES))
    response = request(server.port, "/digits.txt", headers={"Range": value})
    assert response.status == 206
    assert response.body.count(b"Content-Range:") == MAX_RANGES


def test_too_many_ranges_get_the_whole_file(server: ServerThread) -> None:
    value = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(MAX_RANGES + 1))
    response = request(server.port, "/digits.txt", headers={"Range": value})
    assert (response.status, response.body) == (200, DIGITS)


def test_unsatisfiable_is_416(server: ServerThread) -> None:
    response = request(server.port, "/digits.txt", headers={"Range": "bytes=100-"})
    assert response.status == 416
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-range", "bytes */100"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "26"),
        ("Connection", "close"),
    ]
    assert response.body == b"416 Range Not Satisfiable\n"


def test_invalid_range_is_ignored(server: ServerThread) -> None:
    response = request(server.port, "/digits.txt", headers={"Range": "bytes=9-1"})
    assert (response.status, response.body) == (200, DIGITS)


def test_range_on_head_is_ignored(server: ServerThread) -> None:
    # RFC 9110 §14.2: range handling is defined for GET only.
    response = request(server.port, "/digits.txt", "HEAD", headers={"Range": "bytes=0-1"})
    assert (response.status, response.header("content-length")) == (200, "100")


@pytest.mark.parametrize(
    ("if_range", "status"),
    [("etag", 206), ('"stale"', 200), ("weak", 200), (LAST_MODIFIED, 206), ("date", 200)],
)
def test_if_range(server: ServerThread, site_root: Path, if_range: str, status: int) -> None:
    etag = etag_of(site_root / "digits.txt")
    value = {
        "etag": etag,
        "weak": "W/" + etag,
        "date": "Tue, 14 Nov 2023 22:13:21 GMT",
    }.get(if_range, if_range)
    response = request(
        server.port, "/digits.txt", headers={"Range": "bytes=0-4", "If-Range": value}
    )
    assert response.status == status
    assert response.body == (DIGITS[:5] if status == 206 else DIGITS)


def test_if_range_mismatch_ignores_even_unsatisfiable_range(server: ServerThread) -> None:
    headers = {"Range": "bytes=500-", "If-Range": '"stale"'}
    response = request(server.port, "/digits.txt", headers=headers)
    assert (response.status, response.body) == (200, DIGITS)
