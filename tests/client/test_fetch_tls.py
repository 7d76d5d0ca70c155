"""``ferry fetch`` against Ferry's own HTTPS server, side by side with curl (the runner of
test_fetch_curl.py): trusting the test CA with ``--cacert`` and ``--capath``, ``-k`` for
a certificate nobody vouches for, and curl's exit statuses for a certificate problem
(60), a failed handshake (35) and a CA file that cannot be read (77); ``--trace`` tells
what the handshake negotiated, as curl's ``-v`` does. Both loops serve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.asgi import Receive, Scope, Send

from ..support import ServerThread
from ..tls_support import Certificates, have_openssl
from .test_fetch_curl import CURL, _ferry, both, ferry_in_process, run, same  # noqa: F401

# ferry_in_process: the autouse fixture that runs ferry fetch in-process (_ferry[-1]).
pytestmark = pytest.mark.skipif(
    not have_openssl() or shutil.which("curl") is None, reason="needs openssl and curl"
)


async def scheme_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the scheme the request came in with: "https" over TLS."""
    if scope["type"] != "http":
        return
    body = scope["scheme"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def https(certificates: Certificates, loop_name: str) -> Iterator[str]:
    """Ferry serving ``scheme_app`` over TLS with the test CA's server certificate (for
    localhost and 127.0.0.1); its base URL."""
    options = {"ssl_certfile": str(certificates.cert), "ssl_keyfile": str(certificates.key)}
    with ServerThread(scheme_app, loop=loop_name, lifespan="off", **options) as server:
        yield f"https://127.0.0.1:{server.port}"


def test_cacert_and_capath_trust_the_test_ca(
    https: str, certificates: Certificates, tmp_path: Path
) -> None:
    assert same("-s", "--cacert", str(certificates.ca), f"{https}/") == b"https"
    hashed = tmp_path / "cas"
    hashed.mkdir()
    shutil.copy(certificates.ca, hashed / "ca.pem")
    subprocess.run(["openssl", "rehash", str(hashed)], check=True, capture_output=True)
    assert same("-s", "--capath", str(hashed), f"{https}/") == b"https"


def test_an_untrusted_certificate_exits_60_unless_insecure(https: str) -> None:
    curl, ferry = both("-sS", f"{https}/")  # the system's store knows no test CA
    assert (ferry.returncode, ferry.stdout) == (curl.returncode, curl.stdout) == (60, b"")
    for result in (curl, ferry):
        assert b"unable to get local issuer certificate" in result.stderr
    assert same("-s", "-k", f"{https}/") == b"https"
    assert same("-s", "--insecure", "--cacert", "/nonexistent.pem", f"{https}/") == b"https"


def test_a_ca_file_that_cannot_be_read_exits_77(https: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    for path in (tmp_path / "missing.pem", empty):
        curl, ferry = both("-sS", "--cacert", str(path), f"{https}/")
        assert (ferry.returncode, curl.returncode) == (77, 77), ferry.stderr
        assert f"(77) error setting certificate file: {path}".encode() in ferry.stderr


def test_tls_to_a_plain_http_port_is_a_failed_handshake(loop_name: str) -> None:
    with ServerThread(scheme_app, loop=loop_name, lifespan="off") as server:
        curl, ferry = both("-s", f"https://127.0.0.1:{server.port}/")
    assert (ferry.returncode, curl.returncode) == (35, 35)


def curl_handshake(url: str, ca: Path) -> dict[str, str]:
    """What curl -v says it negotiated: version, cipher, ALPN."""
    shown = run(CURL, ["-sv", "-o", "/dev/null", "--cacert", str(ca), url], b"", None)
    text = shown.stderr.decode()
    connection = re.search(r"SSL connection using (\S+) / (\S+)", text)
    alpn = re.search(r"ALPN: server accepted (\S+)", text)
    assert connection is not None, text
    assert alpn is not None, text
    return {"version": connection[1], "cipher": connection[2], "alpn": alpn[1]}


def test_the_trace_tells_what_the_handshake_negotiated_as_curl_does(
    https: str, certificates: Certificates
) -> None:
    expected = curl_handshake(f"{https}/", certificates.ca)
    assert expected["version"] == "TLSv1.3"
    assert expected["alpn"] == "http/1.1"
    args = ["--cacert", str(certificates.ca), f"{https}/"]
    # Ferry's own options (curl's --trace takes a file): ferry fetch alone.
    ferry = _ferry[-1](["-s", "--trace-json", *args], b"", None)
    (tls,) = [step for step in json.loads(ferry.stdout)["steps"] if step["step"] == "tls"]
    assert tls["tls"] == expected
    ferry = _ferry[-1](["-s", "--trace", *args], b"", None)
    line = f"    TLSv1.3, cipher {expected['cipher']}, ALPN http/1.1\n".encode()
    assert b"  TLS handshake " in ferry.stderr
    assert line in ferry.stderr
