"""Conditional requests, RFC 9110 §13.2.2: the order of evaluation and the 304/412 answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry.static._conditional import (
    Precondition,
    evaluate_preconditions,
    if_range_matches,
    parse_http_date,
)
from tests.support import ServerThread

from ._http import request
from .conftest import HELLO, LAST_MODIFIED, MTIME, etag_of

ETAG = '"abc"'
BEFORE = "Tue, 14 Nov 2023 22:13:19 GMT"
AFTER = "Tue, 14 Nov 2023 22:13:21 GMT"
P, N, F = Precondition.PROCEED, Precondition.NOT_MODIFIED, Precondition.FAILED


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ({}, P),
        ({"if-match": ETAG}, P),
        ({"if-match": '"x", "abc"'}, P),
        ({"if-match": "*"}, P),
        ({"if-match": '"x"'}, F),
        ({"if-match": 'W/"abc"'}, F),  # If-Match compares strongly
        ({"if-unmodified-since": LAST_MODIFIED}, P),
        ({"if-unmodified-since": AFTER}, P),
        ({"if-unmodified-since": BEFORE}, F),
        ({"if-unmodified-since": "not a date"}, P),  # invalid: ignored
        ({"if-match": ETAG, "if-unmodified-since": BEFORE}, P),  # step 2 skipped
        ({"if-none-match": ETAG}, N),
        ({"if-none-match": 'W/"abc"'}, N),  # If-None-Match compares weakly
        ({"if-none-match": '"x", W/"abc"'}, N),
        ({"if-none-match": "*"}, N),
        ({"if-none-match": '"x"'}, P),
        ({"if-modified-since": LAST_MODIFIED}, N),
        ({"if-modified-since": AFTER}, N),
        ({"if-modified-since": BEFORE}, P),
        ({"if-modified-since": "garbage"}, P),
        ({"if-none-match": '"x"', "if-modified-since": AFTER}, P),  # step 4 skipped
        ({"if-none-match": ETAG, "if-modified-since": BEFORE}, N),
        ({"if-match": '"x"', "if-none-match": ETAG}, F),  # step 1 before step 3
        ({"if-unmodified-since": BEFORE, "if-none-match": ETAG}, F),
    ],
)
def test_evaluation_order(headers: dict[str, str], outcome: Precondition) -> None:
    assert evaluate_preconditions(headers, ETAG, MTIME) is outcome


@pytest.mark.parametrize(
    "value",
    [
        "Tue, 14 Nov 2023 22:13:20 GMT",  # IMF-fixdate
        "Tuesday, 14-Nov-23 22:13:20 GMT",  # obsolete RFC 850
        "Tue Nov 14 22:13:20 2023",  # asctime
    ],
)
def test_http_date_forms(value: str) -> None:
    assert parse_http_date(value) == MTIME


@pytest.mark.parametrize("value", ["", "yesterday", "Tue, 99 Nov 2023 25:61:61 GMT"])
def test_invalid_dates(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (ETAG, True),
        ('"other"', False),
        ('W/"abc"', False),
        (LAST_MODIFIED, True),
        (AFTER, False),
        ("nonsense", False),
    ],
)
def test_if_range(value: str, matches: bool) -> None:
    assert if_range_matches(value, ETAG, MTIME) is matches


def test_not_modified_by_etag(server: ServerThread, site_root: Path) -> None:
    etag = etag_of(site_root / "hello.txt")
    for method in ("GET", "HEAD"):
        response = request(server.port, "/hello.txt", method, headers={"If-None-Match": etag})
        assert response.status == 304
        assert response.headers == [
            ("etag", etag),
            ("vary", "Accept-Encoding"),
            ("Server", "ferry"),
            ("Connection", "close"),
        ]
        assert response.body == b""


def test_not_modified_by_date(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", headers={"If-Modified-Since": LAST_MODIFIED})
    assert (response.status, response.body) == (304, b"")


def test_modified_since_an_earlier_date(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", headers={"If-Modified-Since": BEFORE})
    assert (response.status, response.body) == (200, HELLO)


def test_if_match_failure_is_412(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", headers={"If-Match": '"stale"'})
    assert response.status == 412
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "24"),
        ("Connection", "close"),
    ]
    assert response.body == b"412 Precondition Failed\n"


def test_if_unmodified_since_failure_is_412(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", headers={"If-Unmodified-Since": BEFORE})
    assert response.status == 412


def test_if_match_with_range(server: ServerThread, site_root: Path) -> None:
    headers = {"If-Match": etag_of(site_root / "hello.txt"), "Range": "bytes=0-4"}
    response = request(server.port, "/hello.txt", headers=headers)
    assert (response.status, response.body) == (206, b"Hello")


def test_not_modified_wins_over_range(server: ServerThread, site_root: Path) -> None:
    headers = {"If-None-Match": etag_of(site_root / "hello.txt"), "Range": "bytes=0-4"}
    response = request(server.port, "/hello.txt", headers=headers)
    assert (response.status, response.body) == (304, b"")


def test_precondition_failure_wins_over_unsatisfiable_range(server: ServerThread) -> None:
    headers = {"If-Match": '"stale"', "Range": "bytes=999-"}
    assert request(server.port, "/hello.txt", headers=headers).status == 412
