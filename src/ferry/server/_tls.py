"""The server's TLS settings: the one place an ``ssl.SSLContext`` is built from the
configuration (``server_context``), and what a connection's handshake tells the ASGI
``tls`` extension (``tls_extension``). The bytes of a TLS connection are the business
of ``_tls_connection``.

The defaults, and why (docs/tls.md says more):

- TLS 1.2 at least (RFC 8996 deprecates 1.0 and 1.1), 1.3 preferred (OpenSSL picks the
  highest both sides speak, RFC 8446 §4.2.1).
- For TLS 1.2, forward-secret AEAD suites only (ECDHE/DHE with AES-GCM or ChaCha20-
  Poly1305: Mozilla's "intermediate" list), in the server's order of preference; TLS
  1.3's suites are all of that kind.
- No compression (CRIME), no renegotiation (a client could make the server redo the
  costly half of a handshake at will; TLS 1.3 has none).
- ALPN (RFC 7301) selects ``http/1.1`` only: Ferry speaks nothing else. A client that
  offers only h2 gets no protocol selected (Python's ``ssl`` does not send the
  ``no_application_protocol`` alert of RFC 7301 §3.2), never h2.

Every failure to read the files is a ``ConfigError`` that names the file.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Final

from .._errors import ConfigError
from ._config import Config

__all__ = ["DEFAULT_CIPHERS", "TLSSettings", "server_context", "tls_extension"]

DEFAULT_CIPHERS: Final = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)
"""Mozilla's "intermediate" TLS 1.2 suites: forward secrecy (ECDHE, DHE) and AEAD only."""

ALPN: Final = ("http/1.1",)

# The ASGI tls extension's tls_version: the protocol's number on the wire (RFC 8446 §5.1).
_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# RFC 4514 §3: the short names of a distinguished name's attribute types.
_SHORT_NAMES: Final = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_OPTIONS: Final = ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE


class TLSSettings:
    """What every TLS connection of one server shares: the context, the certificate it
    presents (PEM, for the ``tls`` extension), the cipher suites' numbers by name, and
    the handshake timeout. Replaced whole on a reload (``Server.reload_tls``)."""

    __slots__ = ("cipher_ids", "context", "handshake_timeout", "server_cert")

    def __init__(self, config: Config) -> None:
        self.context = server_context(config)
        assert config.ssl_certfile is not None
        self.server_cert = _first_certificate(config.ssl_certfile)
        # SSLObject.cipher() names the suite; the extension wants its IANA number.
        self.cipher_ids: dict[str, int] = {
            c["name"]: c["id"] & 0xFFFF for c in self.context.get_ciphers()
        }
        self.handshake_timeout = config.ssl_handshake_timeout


def server_context(config: Config) -> ssl.SSLContext:
    """The server's SSLContext for ``config`` (whose ``ssl_certfile`` is set).

    Raises ConfigError naming the file that is missing, unreadable, not PEM, or whose
    key does not match the certificate or cannot be decrypted with the password."""
    certfile = config.ssl_certfile
    assert certfile is not None
    keyfile = config.ssl_keyfile
    for path in (certfile, keyfile, config.ssl_ca_certs):
        if path is not None:
            _check_readable(path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= _OPTIONS
    try:
        context.set_ciphers(config.ssl_ciphers or DEFAULT_CIPHERS)
    except ssl.SSLError:
        raise ConfigError(f"ssl_ciphers: no cipher suite matches {config.ssl_ciphers!r}") from None
    context.set_alpn_protocols(list(ALPN))
    _load_chain(context, certfile, keyfile, config.ssl_keyfile_password)
    if config.ssl_ca_certs is not None:
        try:
            context.load_verify_locations(cafile=config.ssl_ca_certs)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"ssl_ca_certs: no CA certificate could be read from {config.ssl_ca_certs}: "
                f"{_reason(exc)}"
            ) from None
    context.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    return context


def _check_readable(path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_chain(
    context: ssl.SSLContext, certfile: str, keyfile: str | None, password: str | None
) -> None:
    """``load_cert_chain``, its OpenSSL errors turned into a sentence naming the file.
    Without a password, an encrypted key is an error, never a prompt on the terminal."""
    keyname = keyfile or certfile
    try:
        context.load_cert_chain(certfile, keyfile, password=password or _no_password)
    except _NoPasswordError:
        raise ConfigError(
            f"the private key in {keyname} is encrypted: give its ssl_keyfile_password"
        ) from None
    except ssl.SSLError as exc:
        reason = _reason(exc)
        if "KEY_VALUES_MISMATCH" in reason.upper().replace(" ", "_"):
            message = f"the key in {keyname} does not match the certificate in {certfile}"
        elif _first_certificate(certfile) is None:
            message = f"no PEM certificate in {certfile}"
        elif password is not None and _is_encrypted(keyname):
            message = f"cannot decrypt the private key in {keyname}: wrong ssl_keyfile_password"
        else:
            message = f"no PEM private key in {keyname}"
        raise ConfigError(message) from None


class _NoPasswordError(Exception):
    """An encrypted key, and no ssl_keyfile_password."""


def _no_password() -> str:
    raise _NoPasswordError


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc)


def _is_encrypted(path: str) -> bool:
    with open(path, "rb") as file:
        return b"ENCRYPTED" in file.read()


def _first_certificate(path: str) -> str | None:
    """The first PEM certificate in ``path`` (the server's own, then its chain)."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    with open(path, encoding="latin-1") as file:
        text = file.read()
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return None
    return text[start : stop + len(end)] + os.linesep


def tls_extension(settings: TLSSettings, sslobj: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI ``tls`` extension of a connection whose handshake is done (ASGI TLS
    extension spec): the same dict for every request of the connection."""
    cipher = sslobj.cipher()
    der = sslobj.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = _rfc4514(sslobj.getpeercert()) if der else None
    return {
        "server_cert": settings.server_cert,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # A certificate that does not verify fails the handshake: the app never sees one.
        "client_cert_error": None,
        "tls_version": _VERSIONS.get(sslobj.version() or ""),
        "cipher_suite": settings.cipher_ids.get(cipher[0]) if cipher else None,
    }


def _rfc4514(certificate: Any) -> str | None:
    """The subject of a certificate (``getpeercert()``'s dict) as an RFC 4514 string:
    its relative names in reverse order, comma-separated, values escaped (§2.4)."""
    subject = certificate.get("subject") if certificate else None
    if not subject:
        return None
    names = []
    for rdn in reversed(subject):
        names.append("+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(names)


def _escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out
