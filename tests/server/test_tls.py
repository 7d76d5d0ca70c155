"""HTTPS: Ferry's TLS layer with real peers over 127.0.0.1 (curl, openssl s_client,
Python's ssl, Ferry's own client, websockets), on asyncio and uvloop. Certificates come
from tests/tls_support.py (the ``certificates`` fixture)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry import Client
from ferry.asgi import Receive, Scope, Send
from ferry.static import StaticFiles

from ..support import serving
from ..tls_support import Certificates, client_context
from ._helpers import Reader, error_response, run_curl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

HELLO = b"Hello, world!"


def tls_options(certificates: Certificates, **more: Any) -> dict[str, Any]:
    return {"ssl_certfile": str(certificates.cert), "ssl_keyfile": str(certificates.key), **more}


async def scope_app(scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP: 200 with the scope's scheme and tls extension as JSON; WebSocket: the same,
    as one text message once accepted."""
    if scope["type"] == "lifespan":
        return
    summary = json.dumps(
        {"scheme": scope["scheme"], "tls": scope["extensions"].get("tls"), "path": scope["path"]}
    )
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": summary})
        await send({"type": "websocket.close"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": summary.encode()})


def tls_connect(
    port: int, certificates: Certificates, *, client_cert: bool = False
) -> ssl.SSLSocket:
    context = client_context(certificates, client_cert=client_cert)
    context.set_alpn_protocols(["h2", "http/1.1"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname="localhost")


def get(sock: socket.socket, path: str = "/") -> bytes:
    """One keep-alive GET on ``sock``: the body of its 200."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    response = Reader(sock).response()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), response
    return body


@pytest.fixture
def https(loop_name: str, certificates: Certificates) -> Iterator[int]:
    """A Ferry server of ``scope_app`` over TLS: its port."""
    with serving(scope_app, loop_name, **tls_options(certificates)) as server:
        yield server.port


def test_curl_gets_https_with_alpn_http11(https: int, certificates: Certificates) -> None:
    url = f"https://localhost:{https}/a"
    result = run_curl("-v", "--cacert", str(certificates.ca), url, url)
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.decode()
    assert "ALPN: server accepted http/1.1" in stderr
    assert "Re-using existing connection" in stderr  # keep-alive over TLS
    summary = json.loads(result.stdout.split(b"}{")[0] + b"}")
    assert summary["scheme"] == "https"


def test_the_scope_carries_the_tls_extension(https: int, certificates: Certificates) -> None:
    with tls_connect(https, certificates) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        summary = json.loads(get(sock))
        cipher_name = sock.cipher()[0]  # type: ignore[index]
    tls = summary["tls"]
    assert summary["scheme"] == "https"
    assert tls["server_cert"] == certificates.cert.read_text()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304
    ids = {c["name"]: c["id"] & 0xFFFF for c in ssl.create_default_context().get_ciphers()}
    assert tls["cipher_suite"] == ids[cipher_name]


def test_tls12_is_accepted_with_a_forward_secret_aead_suite(
    https: int, certificates: Certificates
) -> None:
    context = client_context(certificates)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", https), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        summary = json.loads(get(sock))
        name = sock.cipher()[0]  # type: ignore[index]
    assert summary["tls"]["tls_version"] == 0x0303
    assert name.startswith(("ECDHE-", "DHE-"))
    assert "GCM" in name or "CHACHA20" in name


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_openssl_s_client_tls10_and_11_are_refused(
    https: int, version: str, certificates: Certificates
) -> None:
    # SECLEVEL=0: the client offers the old version for real; the server must refuse it.
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{https}",
            version,
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-CAfile",
            str(certificates.ca),
        ],
        input=b"",
        capture_output=True,
        timeout=30,
    )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode != 0
    assert "alert protocol version" in output, output


def test_openssl_s_client_negotiates_alpn_http11_and_tls13(
    https: int, certificates: Certificates
) -> None:
    request = b"GET /s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{https}",
            "-alpn",
            "h2,http/1.1",
            "-CAfile",
            str(certificates.ca),
            "-servername",
            "localhost",
            "-ign_eof",
        ],
        input=request,
        capture_output=True,
        timeout=30,
    )
    output = result.stdout.decode()
    assert "ALPN protocol: http/1.1" in output
    assert "Protocol  : TLSv1.3" in output or "New, TLSv1.3" in output
    assert "Verify return code: 0 (ok)" in output
    assert '"path": "/s"' in output


def test_an_h2_only_client_is_not_told_h2(https: int, certificates: Certificates) -> None:
    context = client_context(certificates)
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", https), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        assert sock.selected_alpn_protocol() is None  # no h2: nothing Ferry can't speak


def test_plain_http_on_the_tls_port_gets_a_400_in_clear_and_a_close(
    loop_name: str, certificates: Certificates
) -> None:
    with serving(scope_app, loop_name, **tls_options(certificates)) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert Reader(sock).to_close() == error_response(
                400, "Bad Request", "The plain HTTP request was sent to HTTPS port"
            )


def test_curl_sees_the_plain_http_answer(https: int) -> None:
    result = run_curl(f"http://127.0.0.1:{https}/")
    assert result.returncode == 0
    assert result.stdout == b"400 Bad Request: The plain HTTP request was sent to HTTPS port\n"


def read_to_close(sock: socket.socket) -> bytes:
    """What comes before the server's close (a reset counts as one)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_stalled_handshake_is_dropped_at_the_timeout(
    loop_name: str, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ferry.error")
    options = tls_options(certificates, ssl_handshake_timeout=0.5, head_timeout=60)
    with (
        serving(scope_app, loop_name, **options) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        start = time.monotonic()
        sock.sendall(b"\x16\x03\x01")  # a TLS record begun, never finished
        assert read_to_close(sock) == b""
        waited = time.monotonic() - start
    assert 0.4 < waited < 5
    drops = [r for r in caplog.records if "TLS handshake not done within 0.5 s" in r.message]
    assert [r.levelno for r in drops] == [logging.DEBUG]


def test_a_failed_handshake_is_logged_at_debug_with_its_reason(
    https: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ferry.error")
    with socket.create_connection(("127.0.0.1", https), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")  # a handshake record that is no hello
        assert read_to_close(sock).startswith(b"\x15")  # an alert record, then the close
    failures = [r for r in caplog.records if "TLS handshake failed" in r.message]
    assert [(r.levelno, r.exc_info) for r in failures] == [(logging.DEBUG, None)]


# -- mutual TLS ----------------------------------------------------------------------------


@pytest.fixture
def mtls(loop_name: str, certificates: Certificates) -> Iterator[tuple[int, list[str]]]:
    """A server that requires client certificates: (port, the paths its app saw)."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await scope_app(scope, receive, send)

    options = tls_options(certificates, ssl_ca_certs=str(certificates.ca), ssl_cert_reqs=2)
    with serving(app, loop_name, **options) as server:
        yield server.port, seen


def test_mtls_without_a_client_certificate_never_reaches_the_app(
    mtls: tuple[int, list[str]], certificates: Certificates
) -> None:
    port, seen = mtls
    with tls_connect(port, certificates) as sock:
        # TLS 1.3: the client's side of the handshake ends first; the refusal comes next.
        sock.sendall(b"GET /refused HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            sock.recv(100)
    result = run_curl("--cacert", str(certificates.ca), f"https://localhost:{port}/curl")
    assert result.returncode != 0
    assert seen == []


def test_mtls_with_a_client_certificate_is_visible_to_the_app(
    mtls: tuple[int, list[str]], certificates: Certificates
) -> None:
    port, seen = mtls
    with tls_connect(port, certificates, client_cert=True) as sock:
        tls = json.loads(get(sock, "/python"))["tls"]
    assert tls["client_cert_name"] == "CN=client.test,O=Ferry Tests"
    assert tls["client_cert_chain"] == [certificates.client_cert.read_text()]
    assert tls["client_cert_error"] is None
    result = run_curl(
        "--cacert", str(certificates.ca), "--cert", str(certificates.client_cert),
        "--key", str(certificates.client_key), f"https://localhost:{port}/curl",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tls"]["client_cert_name"] == "CN=client.test,O=Ferry Tests"
    assert seen == ["/python", "/curl"]


# -- other clients, other apps -------------------------------------------------------------


def test_ferrys_own_client_over_https(https: int, certificates: Certificates) -> None:
    with Client(verify=client_context(certificates)) as client:
        responses = [client.get(f"https://localhost:{https}/{n}") for n in range(2)]
    assert [json.loads(r.content)["path"] for r in responses] == ["/0", "/1"]
    assert client.pool.open_connections == 0


def test_websocket_over_tls_is_wss(https: int, certificates: Certificates) -> None:
    from websockets.sync.client import connect

    context = client_context(certificates)
    with connect(f"wss://localhost:{https}/ws", ssl=context) as ws:
        summary = json.loads(ws.recv(timeout=10))
    assert summary["scheme"] == "wss"
    assert summary["tls"]["tls_version"] == 0x0304


def test_a_trusted_proxys_forwarded_scheme_still_wins(
    https: int, certificates: Certificates
) -> None:
    with tls_connect(https, certificates) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: http\r\n\r\n")
        body = Reader(sock).response().partition(b"\r\n\r\n")[2]
    assert json.loads(body)["scheme"] == "http"


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['wsgi.url_scheme']} {environ.get('HTTPS')}".encode()]


def test_wsgi_sees_https(loop_name: str, certificates: Certificates) -> None:
    options = tls_options(certificates, interface="wsgi")
    with (
        serving(wsgi_app, loop_name, **options) as server,  # type: ignore[arg-type]
        tls_connect(server.port, certificates) as sock,
    ):
        assert get(sock) == b"https on"


def test_proxy_protocol_header_comes_before_the_handshake(
    loop_name: str, certificates: Certificates
) -> None:
    options = tls_options(certificates, proxy_protocol=True)
    with serving(scope_app, loop_name, **options) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        raw.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n")
        context = client_context(certificates)
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            summary = json.loads(get(sock, "/proxied"))
    assert summary["path"] == "/proxied"
    assert summary["scheme"] == "https"


# -- files over TLS ------------------------------------------------------------------------


def test_a_static_file_over_tls_comes_whole(
    loop_name: str, certificates: Certificates, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(data)
    options = tls_options(certificates)
    with (
        serving(StaticFiles(tmp_path), loop_name, **options) as server,
        tls_connect(server.port, certificates) as sock,
    ):
        assert get(sock, "/big.bin") == data
        assert get(sock, "/big.bin") == data  # and the connection goes on
