"""Test certificates, made by the openssl command line (nothing is downloaded): a CA, a
server certificate it signs (for localhost and 127.0.0.1), a client certificate it
signs (for mutual TLS), and a second server certificate (the reloaded one), each in its
own PEM file.

``make_certificates(folder)`` writes them; the ``certificates`` fixture (tests/conftest.py)
makes them once per session. ``client_context`` is a Python client that trusts the CA.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificates", "client_context", "have_openssl", "make_certificates"]


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files ``make_certificates`` wrote."""

    ca: Path  # the CA certificate: what clients trust (--cacert, --ssl-ca-certs)
    ca_key: Path
    cert: Path  # the server's certificate, for localhost and 127.0.0.1
    key: Path
    client_cert: Path  # a client's certificate (CN=client.test), signed by the CA
    client_key: Path
    other_cert: Path  # a second server certificate (CN=renewed.localhost), same CA
    other_key: Path
    encrypted_key: Path  # ``key`` encrypted with the password "secret"
    folder: Path


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*arguments: str | Path) -> None:
    subprocess.run(["openssl", *map(str, arguments)], check=True, capture_output=True)


def _signed(folder: Path, name: str, ca: Path, ca_key: Path, subject: str, ext: str) -> Path:
    """A key and a certificate signed by the CA: ``name``.pem and ``name``-key.pem."""
    key, csr, cert = folder / f"{name}-key.pem", folder / f"{name}.csr", folder / f"{name}.pem"
    extfile = folder / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr)
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", extfile, "-out", cert,
    )  # fmt: skip
    return cert


def make_certificates(folder: Path) -> Certificates:
    """Write a CA, server, client and second server certificate into ``folder``."""
    ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=Ferry Test CA", "-keyout", ca_key, "-out", ca,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    cert = _signed(folder, "server", ca, ca_key, "/CN=localhost", server_ext)
    other = _signed(folder, "renewed", ca, ca_key, "/CN=renewed.localhost", server_ext)
    client_ext = "extendedKeyUsage=clientAuth\n"
    client = _signed(folder, "client", ca, ca_key, "/O=Ferry Tests/CN=client.test", client_ext)
    encrypted = folder / "server-key-encrypted.pem"
    _openssl(
        "pkey", "-in", folder / "server-key.pem", "-aes256", "-passout", "pass:secret",
        "-out", encrypted,
    )  # fmt: skip
    return Certificates(
        ca=ca,
        ca_key=ca_key,
        cert=cert,
        key=folder / "server-key.pem",
        client_cert=client,
        client_key=folder / "client-key.pem",
        other_cert=other,
        other_key=folder / "renewed-key.pem",
        encrypted_key=encrypted,
        folder=folder,
    )


def client_context(certificates: Certificates, *, client_cert: bool = False) -> ssl.SSLContext:
    """A Python client context trusting the test CA (with the client certificate)."""
    context = ssl.create_default_context(cafile=str(certificates.ca))
    if client_cert:
        context.load_cert_chain(certificates.client_cert, certificates.client_key)
    return context
