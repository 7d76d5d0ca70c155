"""HTTPS in real processes: startup errors that name the file, SIGHUP reloading the
certificate (in place for one process, rolling with --workers) with a connection held
open across it, and a slow reader of a large file over TLS that keeps the server's
memory flat. Every wait is on a log line, a pid or bytes."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry._cli import main

from ..server._helpers import Reader
from ..tls_support import Certificates, client_context
from .test_workers import APPS, workers

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

APP = f"{APPS}:pid"


@pytest.fixture
def live(tmp_path: Path, certificates: Certificates) -> tuple[Path, Path]:
    """Copies of the server's certificate and key, for a test to replace (a renewal)."""
    cert, key = tmp_path / "live.pem", tmp_path / "live-key.pem"
    shutil.copy(certificates.cert, cert)
    shutil.copy(certificates.key, key)
    return cert, key


def renew(live: tuple[Path, Path], certificates: Certificates) -> None:
    shutil.copy(certificates.other_cert, live[0])
    shutil.copy(certificates.other_key, live[1])


def tls_args(live: tuple[Path, Path]) -> list[str]:
    return [APP, "--ssl-certfile", str(live[0]), "--ssl-keyfile", str(live[1])]


@contextlib.contextmanager
def tls_connection(port: int, certificates: Certificates) -> Iterator[ssl.SSLSocket]:
    context = client_context(certificates)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        yield sock


def served_by(sock: ssl.SSLSocket) -> int:
    """One keep-alive request on ``sock``: the pid that answered."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head, _, body = Reader(sock).response().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    return int(body)


def common_name(sock: ssl.SSLSocket) -> str:
    subject = dict(field[0] for field in sock.getpeercert()["subject"])  # type: ignore[index]
    return str(subject["commonName"])


def test_sighup_reloads_the_certificate_in_place(
    live: tuple[Path, Path], certificates: Certificates
) -> None:
    with workers(*tls_args(live)) as server:
        server.wait_for("Ferry serving on https://")
        with tls_connection(server.port, certificates) as held:
            pid = served_by(held)
            assert common_name(held) == "localhost"
            renew(live, certificates)
            server.signal(signal.SIGHUP)
            server.wait_for("TLS certificate and key reloaded")
            assert served_by(held) == pid  # the open connection goes on, on its session
            with tls_connection(server.port, certificates) as fresh:
                assert common_name(fresh) == "renewed.localhost"
                assert served_by(fresh) == pid  # the same process: reloaded in place


def test_workers_serve_https_and_sighup_rolls_them_onto_the_new_certificate(
    live: tuple[Path, Path], certificates: Certificates
) -> None:
    with workers(*tls_args(live), "--workers", "2") as server:
        server.wait_for("Ferry serving on https://")
        old = server.ready_pids(2)
        with tls_connection(server.port, certificates) as sock:
            assert served_by(sock) in old
            assert common_name(sock) == "localhost"
        renew(live, certificates)
        server.signal(signal.SIGHUP)
        new = server.ready_pids(2)
        assert not new & old
        # Until an old worker has stopped it may still take a connection, on the old
        # certificate, as it should in a rolling restart: wait for both to be gone.
        for _ in old:
            server.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        for _ in range(4):
            with tls_connection(server.port, certificates) as sock:
                assert served_by(sock) in new
                assert common_name(sock) == "renewed.localhost"


@pytest.mark.parametrize(
    ("processes", "complaint"),
    [
        ([], "SIGHUP: TLS not reloaded, the old certificate stays: the key in .* does not"),
        (["--workers", "2"], "SIGHUP: the configuration is wrong, nothing restarted: the key in"),
    ],
    ids=["single", "workers"],
)
def test_a_broken_renewal_keeps_the_old_certificate(
    live: tuple[Path, Path], certificates: Certificates, processes: list[str], complaint: str
) -> None:
    with workers(*tls_args(live), *processes) as server:
        server.wait_for("Ferry serving on https://")
        server.ready_pids(2 if processes else 0)  # the main process's SIGHUP handler is set
        shutil.copy(certificates.other_key, live[1])  # a key that is not the certificate's
        server.signal(signal.SIGHUP)
        server.wait_for(complaint)
        with tls_connection(server.port, certificates) as sock:
            assert common_name(sock) == "localhost"
            served_by(sock)


# -- startup errors --------------------------------------------------------------------


def startup_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``ferry serve`` with ``args``: it must stop with status 2; what it said."""
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "tests.support:echo_app", "--port", "0", *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_startup_errors_name_the_file(
    capsys: pytest.CaptureFixture[str], certificates: Certificates, tmp_path: Path
) -> None:
    c = certificates
    missing = tmp_path / "missing.pem"
    cases = [
        ([str(missing)], f"cannot read {missing}: No such file or directory"),
        ([str(tmp_path)], f"cannot read {tmp_path}: Is a directory"),
        ([str(c.key), str(c.key)], f"no PEM certificate in {c.key}"),
        ([str(c.cert)], f"no PEM private key in {c.cert}"),
        (
            [str(c.cert), str(c.other_key)],
            f"the key in {c.other_key} does not match the certificate in {c.cert}",
        ),
        (
            [str(c.cert), str(c.encrypted_key)],
            f"the private key in {c.encrypted_key} is encrypted: give its ssl_keyfile_password",
        ),
        (
            [str(c.cert), str(c.encrypted_key), "wrong"],
            f"cannot decrypt the private key in {c.encrypted_key}: wrong ssl_keyfile_password",
        ),
    ]
    flags = ("--ssl-certfile", "--ssl-keyfile", "--ssl-keyfile-password")
    for values, message in cases:
        args = [part for pair in zip(flags, values, strict=False) for part in pair]
        assert startup_error(capsys, *args) == f"ferry: error: {message}\n"


def test_other_tls_errors(capsys: pytest.CaptureFixture[str], certificates: Certificates) -> None:
    base = ["--ssl-certfile", str(certificates.cert), "--ssl-keyfile", str(certificates.key)]
    err = startup_error(capsys, *base, "--ssl-ca-certs", str(certificates.key))
    assert err.startswith(
        f"ferry: error: ssl_ca_certs: no CA certificate could be read from {certificates.key}"
    )
    err = startup_error(capsys, *base, "--ssl-ciphers", "NOPE")
    assert err == "ferry: error: ssl_ciphers: no cipher suite matches 'NOPE'\n"
    err = startup_error(capsys, *base, "--ssl-cert-reqs", "2")
    assert err == "ferry: error: ssl_cert_reqs needs ssl_ca_certs: the CAs to verify clients with\n"
    err = startup_error(capsys, *base, "--ssl-cert-reqs", "3")
    assert "ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required)" in err
    err = startup_error(capsys, "--ssl-keyfile", str(certificates.key))
    assert err == "ferry: error: ssl_keyfile needs ssl_certfile\n"
    err = startup_error(capsys, *base, "--ssl-handshake-timeout", "0")
    assert err == "ferry: error: ssl_handshake_timeout must be positive\n"


def test_a_bad_certificate_stops_workers_before_any_fork(
    capsys: pytest.CaptureFixture[str], certificates: Certificates
) -> None:
    err = startup_error(capsys, "--ssl-certfile", str(certificates.key), "--workers", "2")
    assert err == f"ferry: error: no PEM certificate in {certificates.key}\n"


def test_the_encrypted_key_with_its_password_serves(
    certificates: Certificates, tmp_path: Path
) -> None:
    args = [APP, "--ssl-certfile", str(certificates.cert), "--ssl-keyfile"]
    args += [str(certificates.encrypted_key), "--ssl-keyfile-password", "secret"]
    with workers(*args) as server:
        server.wait_for("Ferry serving on https://")
        with tls_connection(server.port, certificates) as sock:
            assert served_by(sock) == server.proc.pid


# -- a slow reader of a large file -------------------------------------------------------


def rss(pid: int) -> int:
    """The resident memory of ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_slow_reader_of_a_2gb_file_over_tls_keeps_memory_flat(
    loop_name: str, certificates: Certificates, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with open(site / "big.bin", "wb") as file:
        file.truncate(2 << 30)  # sparse: 2 GiB of zeros that take no disk
    args = [str(site), "--loop", loop_name, "--ssl-certfile", str(certificates.cert)]
    args += ["--ssl-keyfile", str(certificates.key), "--min-send-rate", "0"]
    with workers(*args) as server:
        server.wait_for("Ferry serving on https://")
        with tls_connection(server.port, certificates) as sock:
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = 0
            while received < 8 << 20:
                received += len(sock.recv(1 << 20))
            before = rss(server.proc.pid)
            # The reader pauses: the server must wait for it, not read the file ahead.
            peak, end = before, time.monotonic() + 2.0
            while time.monotonic() < end:  # a bounded look, not a synchronisation
                peak = max(peak, rss(server.proc.pid))
                time.sleep(0.1)
            assert peak - before < 32 << 20, (before, peak)
            while received < 64 << 20:  # and it goes on once the reader does
                chunk = sock.recv(1 << 20)
                assert chunk
                received += len(chunk)
        assert rss(server.proc.pid) - before < 32 << 20
