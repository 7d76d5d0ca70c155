"""The https scenarios' plumbing (bench/certificate.py, bench/servers.py, bench/loadgen.py):
the throwaway certificate, the readiness check over TLS against Ferry's own HTTPS, the
wrk command lines and nginx's TLS configuration. The harness imports its modules by
their flat names, so bench/ goes on the path here as it does when bench/run.py runs."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest

from .support import ServerThread
from .tls_support import Certificates, have_openssl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import certificate
import loadgen
import report
import servers
from apps import hello

pytestmark = pytest.mark.skipif(not have_openssl(), reason="needs openssl")


def test_the_readiness_check_trusts_the_run_s_certificate_and_no_other(
    tmp_path: Path, loop_name: str, certificates: Certificates
) -> None:
    made = certificate.make(tmp_path)
    options = {"ssl_certfile": str(made.cert), "ssl_keyfile": str(made.key)}
    with ServerThread(hello, loop=loop_name, **options) as server:
        handshake = servers.check_hello(server.port, "/", made)
        assert handshake is not None
        version, cipher, alpn = handshake.split()
        assert (version, alpn) == ("TLSv1.3", "http/1.1")
        assert cipher.startswith("TLS_")
        other = certificate.Certificate(certificates.ca, certificates.ca_key)
        with pytest.raises(ssl.SSLCertVerificationError):
            servers.check_hello(server.port, "/", other)


def test_wrk_speaks_tls_and_opens_a_connection_per_request_for_handshakes() -> None:
    command = loadgen.wrk_command(loadgen.HTTPS_HANDSHAKES, 8443, 3)
    assert command == [
        *("taskset", "-c", "1", "wrk", "-t1", "-c64", "-d3s", "--latency", "--timeout", "5s"),
        *("-H", "Connection: close", "https://127.0.0.1:8443/"),
    ]
    large = loadgen.wrk_command(loadgen.HTTPS_STATIC_LARGE, 8443, 3)
    assert large[-1] == "https://127.0.0.1:8443/large.bin"
    assert "-H" not in large
    assert report.metric_unit("https-static-large") == "bytes/s"


def test_nginx_serves_tls_with_the_certificate_and_tls_1_2_at_least(tmp_path: Path) -> None:
    tls = certificate.Certificate(tmp_path / "cert.pem", tmp_path / "key.pem")
    config = servers.nginx_static_config(tmp_path / "site", 8443, tls)
    assert (
        "        listen 127.0.0.1:8443 ssl;\n"
        f"        ssl_certificate {tmp_path}/cert.pem;\n"
        f"        ssl_certificate_key {tmp_path}/key.pem;\n"
        "        ssl_protocols TLSv1.2 TLSv1.3;\n"
    ) in config
    assert "        listen 127.0.0.1:8443;\n" in servers.nginx_config(8443)


def test_each_https_scenario_has_its_servers_and_the_targets_name_them(tmp_path: Path) -> None:
    tls = certificate.Certificate(tmp_path / "cert.pem", tmp_path / "key.pem")
    names = {
        scenario: list(servers.https_servers(scenario, tmp_path, tls))
        for scenario in ("https-hello", "https-static-large", "https-handshakes")
    }
    assert names == {
        "https-hello": ["ferry", "uvicorn"],
        "https-static-large": ["ferry", "ferry-asyncio", "nginx"],
        "https-handshakes": ["ferry", "uvicorn", "nginx"],
    }
    uvicorn = servers.https_servers("https-hello", tmp_path, tls)["uvicorn"]
    assert uvicorn.build_command(8443, tmp_path)[-4:] == [
        *("--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)),
    ]
    targets = {(t.scenario, t.peer, t.threshold) for t in report.TARGETS}
    assert {("https-hello", "uvicorn", 1.5), ("https-static-large", "nginx", 0.6)} <= targets
