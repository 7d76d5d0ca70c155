"""Both clients against nginx on 127.0.0.1 (Debian's nginx-light, started by the test):
keep-alive reuse seen from nginx's side, chunked and gzip responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferry import HTTPStatusError, __version__
from ferry.client import AsyncClient, Client

from ..support import run
from .nginx import Nginx, nginx_executable, running_nginx

pytestmark = pytest.mark.skipif(
    nginx_executable() is None, reason="needs nginx (Debian: apt-get install nginx-light)"
)

TEXT = b"hello gzip " * 100
CHUNKED_SOURCE = b"xxxx chunked body"  # nginx's sub_filter turns x into y, and chunks


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with running_nginx(tmp_path_factory.mktemp("nginx")) as server:
        (server.root / "gzip").mkdir()
        (server.root / "gzip" / "text.txt").write_bytes(TEXT)
        (server.root / "chunked").mkdir()
        (server.root / "chunked" / "text.txt").write_bytes(CHUNKED_SOURCE)
        (server.root / "latin1").mkdir()
        (server.root / "latin1" / "cafe.txt").write_bytes(b"caf\xe9")
        yield server


def connection_use(header: str | None) -> tuple[str, int]:
    """(nginx's connection number, the count of requests on it so far)."""
    assert header is not None
    number, requests = header.split(" ")
    return number, int(requests)


def test_keep_alive_reuse(nginx: Nginx) -> None:
    with Client() as client:
        responses = [client.get(f"http://127.0.0.1:{nginx.port}/hello") for _ in range(3)]
        assert [r.content for r in responses] == [b"hello"] * 3
        uses = [connection_use(r.header("x-connection")) for r in responses]
        assert [count for _, count in uses] == [1, 2, 3]
        assert len({number for number, _ in uses}) == 1
        assert (client.pool.open_connections, client.pool.idle_connections) == (1, 1)


def test_async_keep_alive_reuse(nginx: Nginx, loop_name: str) -> None:
    async def main() -> None:
        async with AsyncClient() as client:
            url = f"http://127.0.0.1:{nginx.port}/hello"
            responses = [await client.get(url) for _ in range(3)]
            uses = [connection_use(r.header("x-connection")) for r in responses]
            assert [count for _, count in uses] == [1, 2, 3]
            assert len({number for number, _ in uses}) == 1

    run(loop_name, main())


def test_chunked_response(nginx: Nginx) -> None:
    with Client() as client:
        response = client.get(f"http://127.0.0.1:{nginx.port}/chunked/text.txt")
        again = client.get(f"http://127.0.0.1:{nginx.port}/chunked/text.txt")
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("content-length") is None
    assert response.content == b"yyyy chunked body"
    assert response.kept_alive
    assert connection_use(again.header("x-connection"))[1] == 2


def test_gzip_response(nginx: Nginx, loop_name: str) -> None:
    async def main() -> None:
        async with AsyncClient() as client:
            url = f"http://127.0.0.1:{nginx.port}/gzip/text.txt"
            async with client.stream("GET", url) as response:
                assert response.header("content-encoding") == "gzip"
                assert response.header("transfer-encoding") == "chunked"
                assert await response.read() == TEXT
            assert response.kept_alive

    run(loop_name, main())


def test_client_headers_override_the_default_accept_encoding(nginx: Nginx) -> None:
    """The decoding above is the client's: asked for no coding, nginx sends TEXT as is."""
    with Client(headers={"Accept-Encoding": "identity"}) as client:
        plain = client.get(f"http://127.0.0.1:{nginx.port}/gzip/text.txt")
    assert plain.header("content-encoding") is None
    assert plain.content == TEXT


# -- the httpx-style API against nginx -----------------------------------------------------


def test_params_auth_and_the_default_fields(nginx: Nginx) -> None:
    base = f"http://me:s%40cret@127.0.0.1:{nginx.port}"
    with Client(base_url=base, params={"a": "1 2"}, timeout=5.0) as client:
        response = client.get("/echo", params={"b": ["é", "&"]})
    assert response.status_code == 200
    assert response.text.split("|") == [
        "/echo?a=1%202&b=%C3%A9&b=%26",
        "Basic bWU6c0BjcmV0",  # me:s@cret
        f"ferry/{__version__}",
        "*/*",
    ]
    assert str(response.url) == f"http://127.0.0.1:{nginx.port}/echo?a=1%202&b=%C3%A9&b=%26"


def test_redirects_on_one_connection(nginx: Nginx, loop_name: str) -> None:
    """nginx's redirects carry a small HTML body: read, so the connection goes on."""

    async def main() -> None:
        async with AsyncClient(follow_redirects=True) as client:
            response = await client.get(f"http://127.0.0.1:{nginx.port}/redirect2")
            assert (response.status_code, response.content) == (200, b"hello")
            assert [(r.status_code, r.url.target) for r in response.history] == [
                (301, b"/redirect2"),
                (302, b"/redirect"),
            ]
            assert b"302 Found" in (response.history[1].content or b"")
            assert connection_use(response.headers.get("x-connection"))[1] == 3
            assert client.pool.open_connections == 1

    run(loop_name, main())


def test_charset_and_raise_for_status(nginx: Nginx) -> None:
    with Client() as client:
        latin = client.get(f"http://127.0.0.1:{nginx.port}/latin1/cafe.txt")
        missing = client.get(f"http://127.0.0.1:{nginx.port}/nothing")
    assert latin.headers["Content-Type"] == "text/plain; charset=iso-8859-1"
    assert (latin.encoding, latin.text) == ("iso-8859-1", "café")
    assert latin.raise_for_status() is latin
    assert (missing.status_code, missing.reason_phrase, missing.is_success) == (
        404,
        "Not Found",
        False,
    )
    with pytest.raises(HTTPStatusError) as caught:
        missing.raise_for_status()
    assert caught.value.response is missing
    assert str(caught.value) == (
        f"Client error '404 Not Found' for url 'http://127.0.0.1:{nginx.port}/nothing'"
    )


def test_an_early_413_from_nginx(nginx: Nginx, loop_name: str) -> None:
    """nginx answers 413 as soon as it has the head, then reads and drops the body for a
    while (its lingering close): the client must see the 413 and stop sending."""
    url = f"http://127.0.0.1:{nginx.port}/small"
    with Client() as client:
        assert client.post(url, content=b"x" * 100).text == "taken"
        assert client.post(url, content=b"x" * (4 << 20)).status_code == 413

    async def main() -> None:
        async with AsyncClient() as client:
            response = await client.post(url, content=b"y" * (4 << 20))
            assert response.status_code == 413
            assert response.kept_alive is False

    run(loop_name, main())
