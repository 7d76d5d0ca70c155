"""The sans-IO part of the httpx-style arguments: timeouts, URLs and queries, bodies."""

from __future__ import annotations

import pytest

from ferry import LocalProtocolError
from ferry.client import Timeouts
from ferry.client._models import URL, split_userinfo
from ferry.client._request import (
    USE_CLIENT_DEFAULT,
    encode_body,
    encode_query,
    join_url,
    timeouts_from,
    with_query,
)


def test_timeouts_from() -> None:
    assert timeouts_from(2) == Timeouts(2, 2, 2, 2)
    assert timeouts_from(None) == Timeouts(None, None, None, None)
    given = Timeouts(read=1.0)
    assert timeouts_from(given) is given
    with pytest.raises(TypeError):
        timeouts_from("5")  # type: ignore[arg-type]
    assert repr(USE_CLIENT_DEFAULT) == "USE_CLIENT_DEFAULT"


@pytest.mark.parametrize(
    ("base", "url", "joined"),
    [
        ("http://h/api", "users", "http://h/api/users"),
        ("http://h/api/", "/users?x=1", "http://h/api/users?x=1"),
        ("http://h", "", "http://h/"),
        ("http://h/api", "https://other/x", "https://other/x"),
    ],
)
def test_join_url(base: str, url: str, joined: str) -> None:
    assert join_url(base, url) == joined


def test_queries() -> None:
    assert encode_query(None) == ""
    assert encode_query("a=1&b") == "a=1&b"
    assert encode_query([("a", None), ("b", False), ("c", 1.5), ("d", ("x", "y z"))]) == (
        "a=&b=false&c=1.5&d=x&d=y%20z"
    )
    assert with_query("http://h/p", "") == "http://h/p"
    assert with_query("http://h/p?a=1#frag", "b=2") == "http://h/p?a=1&b=2"


def test_userinfo_and_urls() -> None:
    assert split_userinfo("http://h/p@q") == ("http://h/p@q", None)
    assert split_userinfo("http://u@h/") == ("http://h/", ("u", ""))
    url = URL.parse("http://h/%zz%41/é?%g=1")
    assert url.target == b"/%25zz%41/%C3%A9?%25g=1"
    assert (url.path, url.query) == ("/%zzA/é", b"%25g=1")


def test_bodies() -> None:
    assert encode_body(None, b"raw", None, None) == ([], b"raw")
    assert encode_body(b"c", None, None, None) == ([], b"c")
    assert encode_body(None, None, None, None) == ([], None)
    headers, body = encode_body(None, {"a": "1"}, {"f": ("n", b"x")}, None)
    assert headers[0][1].startswith(b"multipart/form-data; boundary=")
    assert headers[1] == (b"Content-Length", str(len(b"".join(body))).encode())  # type: ignore[arg-type]
    for conflicting in [(b"c", {"a": "1"}, None, None), (None, None, {"f": b""}, [1])]:
        with pytest.raises(LocalProtocolError):
            encode_body(*conflicting)
