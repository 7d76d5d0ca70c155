"""https:// with verification on: a TLS server on 127.0.0.1 with a throwaway certificate
(made by the openssl command line), trusted through an SSLContext, then not trusted."""

from __future__ import annotations

import shutil
import socket
import ssl
from pathlib import Path

import pytest

from ferry.client import AsyncClient, Client, ConnectError

from ..support import new_loop
from .rawserver import ScriptedServer, read_head, wait_closed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def tls_server(cert: Path, key: Path) -> ScriptedServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def handler(sock: socket.socket, index: int) -> None:
        while read_head(sock):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        wait_closed(sock)

    return ScriptedServer(handler, tls=context)


def test_https_with_a_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    trusted = ssl.create_default_context(cafile=str(cert))
    with tls_server(cert, key) as server, Client(verify=trusted) as client:
        url = f"https://localhost:{server.port}/"
        assert [client.get(url).content for _ in range(2)] == [b"secret", b"secret"]
        assert server.accepted == 1  # the TLS connection was reused


def test_async_https(certificate: tuple[Path, Path], loop_name: str) -> None:
    cert, key = certificate
    trusted = ssl.create_default_context(cafile=str(cert))

    async def main(port: int) -> None:
        async with AsyncClient(verify=trusted) as client:
            assert (await client.get(f"https://localhost:{port}/")).content == b"secret"
        async with AsyncClient() as client:
            with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://localhost:{port}/")

    with tls_server(cert, key) as server:
        loop = new_loop(loop_name)
        try:
            loop.run_until_complete(main(server.port))
        finally:
            loop.close()


def test_https_refuses_an_untrusted_certificate(certificate: tuple[Path, Path]) -> None:
    with tls_server(*certificate) as server, Client() as client:
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://localhost:{server.port}/")
        assert client.pool.open_connections == 0
