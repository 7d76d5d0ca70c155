"""Proxies from the environment (``trust_env``, on by default): HTTP_PROXY, HTTPS_PROXY,
ALL_PROXY and NO_PROXY, against the recording proxy of test_proxy.py; and the NO_PROXY
syntax on its own."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from ferry import LocalProtocolError, __version__
from ferry.client import AsyncClient, Client, MockResponse, MockTransport
from ferry.client._decoders import accept_encoding
from ferry.client._models import Proxy
from ferry.client._proxies import Bypass, ProxyRoutes

from .rawserver import RawServer
from .test_async_client import run
from .test_fetch_cli import fetch
from .test_proxy import RecordingProxy
from .test_tls import tls_server

VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
DIRECT = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ndirect"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


def proxied_head(url: bytes, host: bytes) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: %s\r\n%sAccept-Encoding: %s\r\n\r\n" % (
        url,
        host,
        b"User-Agent: ferry/%s\r\nAccept: */*\r\nConnection: keep-alive\r\n" % __version__.encode(),
        accept_encoding(),
    )


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])
def test_http_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
        with Client() as client:
            assert client.get("http://origin.test/a").content == b"proxied"
    assert proxy.heads == [proxied_head(b"http://origin.test/a", b"origin.test")]


def test_a_proxy_without_a_scheme_is_http(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")
        with Client() as client:
            assert client.get("http://origin.test/").content == b"proxied"
    assert proxy.accepted == 1


def test_async_client_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, loop_name: str
) -> None:
    async def main() -> None:
        async with AsyncClient() as client:
            assert (await client.get("http://origin.test:8080/")).content == b"proxied"

    with RecordingProxy() as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        run(loop_name, main())
    assert proxy.heads == [proxied_head(b"http://origin.test:8080/", b"origin.test:8080")]


@needs_openssl
def test_https_proxy_from_the_environment_tunnels(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    with tls_server(*certificate) as origin, RecordingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https
        with Client(verify=trusted) as client:
            assert client.get(f"https://localhost:{origin.port}/").content == b"secret"
        assert proxy.heads == [
            b"CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n"
            % (origin.port, origin.port)
        ]


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "*", "localhost, 127.0.0.0/8", "127.0.0.1:{port}", " ,127.0.0.1"]
)
def test_no_proxy_goes_straight_there(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    with RecordingProxy() as proxy, RawServer(DIRECT) as origin:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=origin.port))
        with Client() as client:
            assert client.get(f"http://127.0.0.1:{origin.port}/").content == b"direct"
    assert proxy.accepted == 0


def test_no_proxy_on_another_port_still_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("no_proxy", "origin.test:8080")
        with Client() as client:
            assert client.get("http://origin.test/").content == b"proxied"
    assert proxy.accepted == 1


def test_trust_env_false_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy, RawServer(DIRECT) as origin:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        with Client(trust_env=False) as client:
            assert client.get(f"http://127.0.0.1:{origin.port}/").content == b"direct"
    assert proxy.accepted == 0


def test_an_explicit_proxy_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would refuse
        monkeypatch.setenv("NO_PROXY", "*")  # the environment is not read at all
        with Client(proxy=f"http://127.0.0.1:{proxy.port}") as client:
            assert client.get("http://origin.test/").content == b"proxied"
    assert proxy.accepted == 1


def test_the_no_proxy_argument_replaces_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "origin.test")
        with Client(no_proxy="other.test") as client:
            assert client.get("http://origin.test/").content == b"proxied"
    assert proxy.accepted == 1


def test_a_bad_proxy_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(LocalProtocolError, match="all_proxy from the environment: not an http"):
        Client()
    with Client(trust_env=False):
        pass


def test_the_environment_is_not_read_for_a_transport_of_ones_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with Client(transport=MockTransport(lambda request: MockResponse(204))) as client:
        assert client.get("http://mock.test/").status == 204
    with Client(uds=str(tmp_path / "no.sock")):
        pass


def test_upper_case_http_proxy_is_ignored_under_cgi(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpoxy: under CGI, a request's ``Proxy:`` field arrives as HTTP_PROXY."""
    monkeypatch.setenv("REQUEST_METHOD", "GET")
    monkeypatch.setenv("HTTP_PROXY", "http://attacker.test:3128")
    assert ProxyRoutes.build(None, None, trust_env=True).http is None
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    assert ProxyRoutes.build(None, None, trust_env=True).http == Proxy("proxy.test", 3128, [])


def test_lower_case_comes_first_and_empty_is_unset() -> None:
    environ = {
        "http_proxy": "http://lower.test:1",
        "HTTP_PROXY": "http://upper.test:2",
        "https_proxy": " ",
        "HTTPS_PROXY": "http://upper.test:3",
    }
    routes = ProxyRoutes.build(None, None, trust_env=True, environ=environ)
    assert (routes.http, routes.https) == (
        Proxy("lower.test", 1, []),
        Proxy("upper.test", 3, []),
    )


def fetched_head(url: bytes, host: bytes) -> bytes:
    """What ``ferry fetch`` sends: curl's fields (docs/fetch.md), not the client's defaults."""
    agent = f"ferry/{__version__}".encode()
    return b"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n\r\n" % (
        url,
        host,
        agent,
    )


def test_fetch_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        assert fetch("-o", "/dev/null", "http://origin.test/") == 0
    assert proxy.heads == [fetched_head(b"http://origin.test/", b"origin.test")]


def test_fetch_proxy_and_noproxy_options(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy, RawServer(DIRECT) as origin:
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        assert fetch("-o", "/dev/null", "-x", f"127.0.0.1:{proxy.port}", "http://a.test/") == 0
        url = f"http://127.0.0.1:{origin.port}/"
        assert fetch("-o", "/dev/null", "--proxy", "http://127.0.0.1:9", "--noproxy", "*", url) == 0
    assert proxy.heads == [fetched_head(b"http://a.test/", b"a.test")]
    assert origin.requests[0].startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("entry", "host", "port", "bypassed"),
    [
        ("example.com", "example.com", 80, True),
        ("example.com", "www.example.com", 80, True),
        ("example.com", "badexample.com", 80, False),
        (".example.com", "example.com", 443, True),
        ("*.example.com", "a.b.example.com", 443, True),
        ("EXAMPLE.com", "example.com.", 80, True),
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 80, False),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("10.0.0.0/8", "ten.example", 80, False),
        ("192.168.0.7", "192.168.0.7", 80, True),
        ("::1", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("[::1]", "::1", 80, True),
        ("fe80::/10", "fe80::1", 80, True),
        ("fe80::/10", "10.0.0.1", 80, False),
    ],
)
def test_no_proxy_entries(entry: str, host: str, port: int, bypassed: bool) -> None:
    parsed = Bypass.parse(entry)
    assert parsed is not None
    assert parsed.matches(host, port) is bypassed


@pytest.mark.parametrize("entry", ["", "  ", "*", "[]"])
def test_no_proxy_entries_that_name_nothing(entry: str) -> None:
    assert Bypass.parse(entry) is None
