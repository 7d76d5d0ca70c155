"""https:// with verification on: a TLS server on 127.0.0.1 with a throwaway certificate
(made by the openssl command line), trusted through an SSLContext, then not trusted."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from ferry.client import AsyncClient, Client, ConnectError
from ferry.client._tls import read_handshake

from ..support import ServerThread, new_loop
from ..tls_support import Certificates
from .rawserver import ScriptedServer, read_head, wait_closed
from .test_fetch_tls import scheme_app

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


def test_verify_takes_a_ca_file_or_a_directory_as_httpx_does(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    hashed = tmp_path / "certs"
    hashed.mkdir()
    shutil.copy(cert, hashed / "test-ca.pem")
    subprocess.run(["openssl", "rehash", str(hashed)], check=True, capture_output=True)
    with tls_server(cert, key) as server:
        url = f"https://localhost:{server.port}/"
        for verify in (str(cert), cert, str(hashed)):
            with Client(verify=verify) as client:
                assert client.get(url).content == b"secret"
        without = Client(verify=str(tmp_path))  # a directory without the CA
        with without, pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            without.get(url)
    with pytest.raises(FileNotFoundError):
        Client(verify=str(tmp_path / "missing.pem"))


def alpn_server(cert: Path, key: Path, protocols: list[str]) -> ScriptedServer:
    """``tls_server`` choosing among ``protocols`` in ALPN; each connection's choice is
    answered as the body ("-" for none)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if protocols:
        context.set_alpn_protocols(protocols)

    def handler(sock: socket.socket, index: int) -> None:
        assert isinstance(sock, ssl.SSLSocket)
        chosen = (sock.selected_alpn_protocol() or "-").encode()
        while read_head(sock):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(chosen), chosen))
        wait_closed(sock)

    return ScriptedServer(handler, tls=context)


@pytest.mark.parametrize(("offered", "chosen"), [(["h2", "http/1.1"], "http/1.1"), ([], None)])
def test_the_trace_tells_the_tls_version_cipher_and_alpn(
    certificate: tuple[Path, Path], offered: list[str], chosen: str | None
) -> None:
    steps: list[tuple[str, bytes]] = []
    with alpn_server(*certificate, offered) as server, Client(verify=certificate[0]) as client:
        url = f"https://localhost:{server.port}/"
        with client.stream("GET", url, trace=lambda *step: steps.append(step)) as response:
            assert response.read() == (chosen or "-").encode()  # it offered http/1.1 only
    (tls,) = [data for step, data in steps if step == "tls"]
    described = read_handshake(tls)
    assert described["version"] == "TLSv1.3"
    assert described["cipher"] in {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"}
    assert described["alpn"] == chosen
    assert tls == f"TLSv1.3 {described['cipher']} {chosen or '-'}".encode()


def test_the_async_trace_tells_the_tls_handshake(
    certificate: tuple[Path, Path], loop_name: str
) -> None:
    steps: list[tuple[str, bytes]] = []

    async def main(port: int) -> bytes:
        async with AsyncClient(verify=str(certificate[0])) as client:
            url = f"https://localhost:{port}/"
            async with client.stream("GET", url, trace=lambda *s: steps.append(s)) as response:
                return await response.read()

    with alpn_server(*certificate, ["http/1.1"]) as server:
        loop = new_loop(loop_name)
        try:
            assert loop.run_until_complete(main(server.port)) == b"http/1.1"
        finally:
            loop.close()
    (tls,) = [data for step, data in steps if step == "tls"]
    assert read_handshake(tls)["alpn"] == "http/1.1"
    assert tls.startswith(b"TLSv1.3 TLS_")


def test_ferry_s_own_https_with_the_ca_given_as_a_path(
    certificates: Certificates, loop_name: str
) -> None:
    tls = {"ssl_certfile": str(certificates.cert), "ssl_keyfile": str(certificates.key)}
    with ServerThread(scheme_app, loop=loop_name, lifespan="off", **tls) as server:
        url = f"https://localhost:{server.port}/"
        with Client(verify=str(certificates.ca)) as client:
            assert [client.get(url).text for _ in range(2)] == ["https", "https"]
            assert client.pool.open_connections == 1  # kept alive over TLS
        leaf = Client(verify=certificates.cert)  # the leaf is no CA to trust
        with leaf, pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            leaf.get(url)
