"""The https scenarios' certificate: one throwaway self-signed certificate per run, made
with the openssl command line in the run's scratch directory, that every server under
test presents (Ferry, uvicorn and nginx alike) and the harness's readiness check trusts.

Its key is ECDSA P-256, what Let's Encrypt issues by default (certbot 2.0 and later), so
a handshake costs what it costs on a typical site: one P-256 signature from the server,
with X25519 key exchange (OpenSSL's first choice) for the session keys. Its one name is
the address the servers listen on, 127.0.0.1 (subjectAltName IP, RFC 5280 §4.2.1.6).
"""

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from probe import HOST

OPENSSL_TIMEOUT_S = 60


class CertificateError(Exception):
    """The openssl command line could not make the certificate."""


@dataclass(frozen=True)
class Certificate:
    """A certificate (PEM, self-signed: it is its own CA) and its unencrypted key."""

    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this certificate (and only it)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make(directory: Path) -> Certificate:
    """Write cert.pem and key.pem into `directory` (which must exist); return them.

    Raises `CertificateError` if openssl is missing or fails. The files are left
    readable by everyone: nginx's master reads them as root, but nothing secret is in a
    key made for one run on 127.0.0.1.
    """
    certificate = Certificate(directory / "cert.pem", directory / "key.pem")
    command = [
        *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
        *("-nodes", "-days", "2", "-subj", f"/CN={HOST}"),
        *("-addext", f"subjectAltName=IP:{HOST}"),
        *("-keyout", str(certificate.key), "-out", str(certificate.cert)),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        raise CertificateError(f"openssl could not make a certificate: {exc} {stderr!r}") from exc
    for path in (certificate.cert, certificate.key):
        path.chmod(0o644)
    return certificate
