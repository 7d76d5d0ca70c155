"""HTTP proxies: http:// requests in absolute form, https:// through a CONNECT tunnel.
The proxy is a raw socket server on 127.0.0.1 that records the heads it receives."""

from __future__ import annotations

import select
import shutil
import socket
import ssl
from pathlib import Path

import pytest

from ferry import LocalProtocolError, __version__
from ferry.client import AsyncClient, Client, ConnectError
from ferry.client._decoders import accept_encoding

from ..support import run
from .rawserver import ScriptedServer, read_head
from .test_tls import tls_server

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

ACCEPT_ENCODING = accept_encoding()  # what this installation decodes
DEFAULTS = b"User-Agent: ferry/%s\r\nAccept: */*\r\nConnection: keep-alive\r\n" % (
    __version__.encode()
)


class RecordingProxy(ScriptedServer):
    """Answers requests in absolute form itself (with ``OK``); tunnels CONNECT to the
    port it names with ``connect_answer`` (relaying bytes until one side closes)."""

    def __init__(self, connect_answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n"):
        super().__init__(self._handle)
        self.heads: list[bytes] = []
        self.connect_answer = connect_answer

    def _handle(self, sock: socket.socket, index: int) -> None:
        while head := read_head(sock):
            self.heads.append(head)
            if not head.startswith(b"CONNECT "):
                sock.sendall(OK)
                continue
            sock.sendall(self.connect_answer)
            if self.connect_answer.startswith(b"HTTP/1.1 200"):
                port = int(head.split(b" ")[1].rpartition(b":")[2])
                with socket.create_connection(("127.0.0.1", port)) as upstream:
                    relay(sock, upstream)
            return


def relay(one: socket.socket, other: socket.socket) -> None:
    peers = {one: other, other: one}
    while True:
        readable, _, _ = select.select(list(peers), [], [], 10)
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)
        if not readable:
            return  # a safety bound for a test gone wrong, not a synchronisation


def test_http_through_a_proxy_with_credentials() -> None:
    with RecordingProxy() as proxy:
        with Client(proxy=f"http://user:p%40ss@127.0.0.1:{proxy.port}") as client:
            url = "http://origin.test:8080/path?q=1"
            assert [client.get(url).content for _ in range(2)] == [b"proxied", b"proxied"]
        head = (
            b"GET http://origin.test:8080/path?q=1 HTTP/1.1\r\n"
            b"Host: origin.test:8080\r\n"
            + DEFAULTS
            + b"Accept-Encoding: "
            + ACCEPT_ENCODING
            + b"\r\n"
            b"Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"  # user:p@ss
            b"\r\n"
        )
        assert proxy.heads == [head, head]
    assert proxy.accepted == 1  # kept alive


def test_async_http_through_a_proxy(loop_name: str) -> None:
    async def main(port: int) -> None:
        async with AsyncClient(proxy=f"http://127.0.0.1:{port}") as client:
            response = await client.post("http://origin.test/", body=b"x")
            assert response.content == b"proxied"

    with RecordingProxy() as proxy:
        run(loop_name, main(proxy.port))
    assert proxy.heads == [
        b"POST http://origin.test/ HTTP/1.1\r\n"
        b"Host: origin.test\r\n" + DEFAULTS + b"Accept-Encoding: " + ACCEPT_ENCODING + b"\r\n"
        b"Content-Length: 1\r\n"
        b"\r\n"
        b"x"
    ]


@needs_openssl
def test_https_through_a_connect_tunnel(certificate: tuple[Path, Path]) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    with tls_server(*certificate) as origin, RecordingProxy() as proxy:
        proxy_url = f"http://user:p%40ss@127.0.0.1:{proxy.port}"
        steps: list[tuple[str, bytes]] = []
        with Client(proxy=proxy_url, verify=trusted) as client:
            url = f"https://localhost:{origin.port}/"
            with client.stream("GET", url, trace=lambda *step: steps.append(step)) as response:
                assert response.read() == b"secret"
            assert [client.get(url).content for _ in range(2)] == [b"secret", b"secret"]
        (tls,) = [data for step, data in steps if step == "tls"]  # the tunnel's handshake
        assert tls.startswith(b"TLSv1.3 TLS_")
        assert proxy.heads == [
            b"CONNECT localhost:%d HTTP/1.1\r\n" % origin.port
            + b"Host: localhost:%d\r\n" % origin.port
            + b"Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"
            + b"\r\n"
        ]
    assert (proxy.accepted, origin.accepted) == (1, 1)  # one tunnel, reused


@needs_openssl
def test_async_https_through_a_connect_tunnel(
    certificate: tuple[Path, Path], loop_name: str
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    steps: list[tuple[str, bytes]] = []

    async def main(proxy_port: int, origin_port: int) -> None:
        async with AsyncClient(proxy=f"http://127.0.0.1:{proxy_port}", verify=trusted) as client:
            url = f"https://localhost:{origin_port}/"
            async with client.stream("GET", url, trace=lambda *s: steps.append(s)) as response:
                assert await response.read() == b"secret"
            assert (await client.get(url)).content == b"secret"
        (tls,) = [data for step, data in steps if step == "tls"]  # the tunnel's handshake
        assert tls.startswith(b"TLSv1.3 TLS_")
        async with AsyncClient(proxy=f"http://127.0.0.1:{proxy_port}") as client:
            with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://localhost:{origin_port}/")
            assert client.pool.open_connections == 0

    with tls_server(*certificate) as origin, RecordingProxy() as proxy:
        run(loop_name, main(proxy.port, origin.port))
    assert proxy.heads[0] == (
        b"CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (origin.port, origin.port)
    )
    assert proxy.accepted == 2


def test_a_refused_tunnel_raises_connect_error(loop_name: str) -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"

    async def main(port: int) -> None:
        async with AsyncClient(proxy=f"http://127.0.0.1:{port}") as client:
            with pytest.raises(ConnectError, match="407 Proxy Authentication Required"):
                await client.get("https://origin.test/")
            assert client.pool.open_connections == 0

    with RecordingProxy(connect_answer=refusal) as proxy:
        run(loop_name, main(proxy.port))
        with Client(proxy=f"http://127.0.0.1:{proxy.port}") as client:
            with pytest.raises(ConnectError, match=r"refused a tunnel to origin\.test:443: 407"):
                client.get("https://origin.test/")
            assert client.pool.open_connections == 0


def test_proxy_urls_must_be_http() -> None:
    with pytest.raises(LocalProtocolError, match="not an http:// proxy URL"):
        Client(proxy="https://127.0.0.1:3128")
    with pytest.raises(LocalProtocolError, match="invalid proxy URL"):
        Client(proxy="http://127.0.0.1:99999")
