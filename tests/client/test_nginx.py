"""Both clients against nginx on 127.0.0.1 (Debian's nginx-light, started by the test):
keep-alive reuse seen from nginx's side, chunked and gzip responses."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from ferry.client import AsyncClient, Client

from ..support import new_loop
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
        yield server


def run(loop_name: str, coroutine: Coroutine[Any, Any, None]) -> None:
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


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
