"""``start_response``, ``write`` and ``wsgi.file_wrapper`` (PEP 3333), checked as the PEP
says: a status is "NNN reason", headers are a list of (str, str) tuples without
hop-by-hop fields, and start_response may be called again only with ``exc_info``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO, Any

__all__ = ["FileWrapper", "ResponseStart", "StartResponseError"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_STATUS = re.compile(r"([1-9][0-9]{2}) [\t\x20-\x7e\x80-\xff]*")
# PEP 3333: "Applications and middleware are forbidden from using HTTP/1.1 'hop-by-hop'
# features or headers" (RFC 9110 §7.6.1 lists them; the server does the framing).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class StartResponseError(AssertionError):
    """The application called start_response wrongly (PEP 3333 has servers raise
    AssertionError-like errors for this; subclassing it keeps ``except AssertionError``
    in WSGI middleware working)."""


class ResponseStart:
    """The ``start_response`` callable of one request and what it was given.

    ``status`` and ``headers`` are the ASGI values once start_response has been called;
    ``headers_sent`` is set by the adapter once they have gone to the client.
    """

    __slots__ = ("headers", "headers_sent", "status", "write")

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_sent = False
        self.write = write

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # PEP 3333: too late to change the response; re-raise the error.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # avoid a reference cycle through the traceback
        elif self.status is not None:
            raise StartResponseError("start_response called twice without exc_info")
        self.status = _parse_status(status)
        self.headers = _encode_headers(headers)
        return self.write


def _parse_status(status: object) -> int:
    if not isinstance(status, str):
        raise StartResponseError(f"status must be a str, got {type(status).__name__}")
    match = _STATUS.fullmatch(status)
    if match is None:
        raise StartResponseError(f"status must be 'NNN reason', got {status!r}")
    return int(match[1])


def _encode_headers(headers: object) -> list[tuple[bytes, bytes]]:
    if type(headers) is not list:
        raise StartResponseError(f"headers must be a list, got {type(headers).__name__}")
    encoded = []
    names = _NAMES
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise StartResponseError(f"a header must be a (name, value) tuple, got {item!r}")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise StartResponseError(f"header name and value must be str, got {item!r}")
        raw_name = names.get(name)
        if raw_name is None:
            raw_name = _encode_name(name)
            if len(names) < _NAMES_MAX:
                names[name] = raw_name
        try:
            # RFC 9110 §5.5: surrounding whitespace is not part of a field value (Django
            # writes "Set-Cookie:  name=..." with a leading space, as gunicorn tolerates).
            encoded.append((raw_name, value.strip(" \t").encode("latin-1")))
        except UnicodeEncodeError:
            raise StartResponseError(f"header is not Latin-1 text: {item!r}") from None
    return encoded


# Header name -> its checked Latin-1 bytes. An app sends the same few names on every
# response, so checking each once saves most of start_response's work; bounded, as an
# app could make names up.
_NAMES: dict[str, bytes] = {}
_NAMES_MAX = 256


def _encode_name(name: str) -> bytes:
    if name.lower() in _HOP_BY_HOP:
        raise StartResponseError(f"hop-by-hop header not allowed in WSGI: {name!r}")
    try:
        return name.encode("latin-1")
    except UnicodeEncodeError:
        raise StartResponseError(f"header name is not Latin-1 text: {name!r}") from None


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; the adapter sends it with
    ``http.response.zerocopysend`` instead when the server offers that and the file has
    a descriptor. ``close()`` closes the file."""

    def __init__(self, filelike: IO[bytes], block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def fileno(self) -> int | None:
        """The file's descriptor, or None when it has none (then it is iterated)."""
        try:
            return self.filelike.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.block_size):
            yield block

    def close(self) -> None:
        close: Any = getattr(self.filelike, "close", None)
        if close is not None:
            close()
