"""The client's TLS settings: which certificates it trusts (``verify``), what it offers in
ALPN, and how a finished handshake is described in a trace.

Shared by the async and the blocking client (each side's ``_backend.py`` describes its
own handshake with ``describe_handshake``).
"""

from __future__ import annotations

import os
import ssl
from typing import Protocol

__all__ = [
    "ALPN_PROTOCOLS",
    "VerifyInput",
    "describe_handshake",
    "read_handshake",
    "ssl_context",
    "trust_context",
]

VerifyInput = bool | str | os.PathLike[str] | ssl.SSLContext
"""``verify=``, as httpx takes it: True (the system's trust store), False (no
verification), a CA bundle file or a directory of hashed CA certificates (``c_rehash``),
or an ``ssl.SSLContext`` used as it is."""

ALPN_PROTOCOLS = ["http/1.1"]
"""RFC 7301: what the client offers. Ferry's client speaks HTTP/1.1 only, so it offers
nothing else (a server that picks no protocol is fine too)."""


class _HandshakeInfo(Protocol):
    """What both ``ssl.SSLObject`` (asyncio) and ``ssl.SSLSocket`` (blocking) tell."""

    def version(self) -> str | None: ...
    def cipher(self) -> tuple[str, str, int] | None: ...
    def selected_alpn_protocol(self) -> str | None: ...


def ssl_context(verify: VerifyInput) -> ssl.SSLContext:
    """The context for ``verify``: a caller's SSLContext is returned untouched; a path
    names a CA file, or a directory of CAs, trusted instead of the system's store.
    Raises OSError (FileNotFoundError) when the path cannot be read, ssl.SSLError when
    it holds no certificate."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, bool):
        context = trust_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
    path = os.fspath(verify)
    return trust_context(capath=path) if os.path.isdir(path) else trust_context(cafile=path)


def trust_context(cafile: str | None = None, capath: str | None = None) -> ssl.SSLContext:
    """A verifying client context with the standard library's defaults (TLS 1.2 at
    least, hostnames checked) trusting ``cafile`` and ``capath``, or, with neither, the
    system's store (as curl's ``--cacert`` and ``--capath`` replace its default bundle);
    ALPN offers ``ALPN_PROTOCOLS``."""
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


def describe_handshake(tls: _HandshakeInfo) -> bytes:
    """The ``tls`` trace step's data: the negotiated version, cipher suite and ALPN
    protocol, separated by spaces, ``-`` for what was not negotiated (no ALPN)."""
    cipher = tls.cipher()
    parts = (tls.version(), cipher[0] if cipher else None, tls.selected_alpn_protocol())
    return " ".join(part or "-" for part in parts).encode("ascii")


def read_handshake(data: bytes) -> dict[str, str | None]:
    """``describe_handshake``'s bytes as ``version``, ``cipher`` and ``alpn`` (None for
    ``-`` or a part missing)."""
    parts = [*data.decode("ascii").split(), "-", "-", "-"][:3]
    values = [None if part == "-" else part for part in parts]
    return dict(zip(("version", "cipher", "alpn"), values, strict=True))
