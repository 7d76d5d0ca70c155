"""multipart/form-data request bodies (RFC 7578), streamed: what ``files=`` sends.

``encode_multipart(fields, files)`` returns a ``MultipartBody``: its ``content_type``
(with the boundary) for the ``Content-Type`` field, its ``length`` when every part's size
is known (then it is sent with a ``Content-Length``, else chunked), and the body itself as
an iterator of bytes that reads each file in blocks as it is sent, never whole.

    body = encode_multipart({"note": "hi"}, {"upload": ("a.txt", open("a.txt", "rb"))})
    headers = {"Content-Type": body.content_type.decode()}
    # send b"".join(body), or iterate over it (with body.length as the Content-Length)
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from .._errors import LocalProtocolError

__all__ = [
    "FieldsInput",
    "FileContent",
    "FileInput",
    "FilesInput",
    "MultipartBody",
    "encode_multipart",
]

_BLOCK = 65536
# RFC 2046 §5.1.1: 1 to 70 of these characters (a space too, but not at the end: no need).
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,./:=?-]{1,70}")

FileContent = bytes | str | IO[bytes]
"""A file's content: bytes, a str (sent as UTF-8) or a binary file (read in blocks)."""
FileInput = (
    FileContent
    | tuple[str | None, FileContent]
    | tuple[str | None, FileContent, str | None]
    | tuple[str | None, FileContent, str | None, Mapping[str, str]]
)
"""As httpx takes it: the content alone (the filename is then the file's own name, if it
has one), or ``(filename, content[, content_type[, headers]])``."""
FilesInput = Mapping[str, FileInput] | Sequence[tuple[str, FileInput]]
FieldsInput = Mapping[str, object] | Sequence[tuple[str, object]]
"""Plain form fields: each value a str (or bytes, or anything ``str()`` renders, such as a
number); a list or tuple value sends the field once per item."""

# WHATWG HTML, "multipart/form-data encoding algorithm": in a field name or filename a
# quotation mark becomes %22, CR %0D and LF %0A, as browsers (and httpx) send them; a
# backslash is sent as is (RFC 7578 §4.2: no quoted-pair escaping).
_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


def escape_parameter(value: str) -> bytes:
    """A name or filename as it goes between the quotes of Content-Disposition: UTF-8
    (RFC 7578 §4.2 and browsers; not RFC 2231's ``filename*``), with ``"`` CR LF escaped."""
    return value.translate(_ESCAPES).encode("utf-8")


class MultipartBody:
    """A multipart/form-data body: iterate over it (once) for its bytes."""

    def __init__(self, parts: list[tuple[bytes, bytes | IO[bytes], int | None]], boundary: bytes):
        self._parts = parts  # (head, content, content size if known)
        self._boundary = boundary
        self.content_type = b"multipart/form-data; boundary=" + boundary
        """The Content-Type field value, with the boundary."""
        self.length: int | None = self._length()
        """The body's size in bytes; None when a file's size cannot be told."""

    def _length(self) -> int | None:
        total = len(self._boundary) + 6  # the closing delimiter: --boundary--CRLF
        for head, _, size in self._parts:
            if size is None:
                return None
            total += len(head) + size + 2  # the CRLF that ends the content
        return total

    def __iter__(self) -> Iterator[bytes]:
        for head, content, _ in self._parts:
            yield head
            if isinstance(content, bytes):
                yield content
            else:
                while block := content.read(_BLOCK):
                    yield block
            yield b"\r\n"
        yield b"--" + self._boundary + b"--\r\n"


def encode_multipart(
    fields: FieldsInput | None,
    files: FilesInput | None,
    boundary: str | None = None,
) -> MultipartBody:
    """The multipart/form-data body of ``fields`` (plain values, first) and ``files``.

    ``boundary`` defaults to 32 random hex digits. Raises LocalProtocolError for a value
    that is neither text, bytes nor a binary file, or a boundary that is not a token."""
    delimiter = (boundary or os.urandom(16).hex()).encode("ascii")
    if _BOUNDARY.fullmatch(delimiter) is None:
        raise LocalProtocolError(f"not a usable multipart boundary: {boundary!r}")
    opening = b"--" + delimiter + b"\r\n"
    parts: list[tuple[bytes, bytes | IO[bytes], int | None]] = []
    for name, value in _pairs(fields):
        for item in value if isinstance(value, list | tuple) else [value]:
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append((opening + _disposition(name, None) + b"\r\n", data, len(data)))
    for name, file in _pairs(files):
        filename, content, content_type, headers = _file_parts(file)
        head = opening + _disposition(name, filename)
        if not any(key.lower() == "content-type" for key in headers):
            head += b"Content-Type: " + _latin1(content_type or _guess(filename)) + b"\r\n"
        for key, value in headers.items():
            head += _latin1(key) + b": " + _latin1(value) + b"\r\n"
        if isinstance(content, str):
            content = content.encode("utf-8")
        size = len(content) if isinstance(content, bytes) else _file_size(content)
        parts.append((head + b"\r\n", content, size))
    return MultipartBody(parts, delimiter)


def _pairs(
    given: Mapping[str, object] | Sequence[tuple[str, object]] | None,
) -> list[tuple[str, object]]:
    if not given:
        return []
    return list(given.items()) if isinstance(given, Mapping) else list(given)


def _disposition(name: str, filename: str | None) -> bytes:
    field = b'Content-Disposition: form-data; name="' + escape_parameter(name) + b'"'
    if filename is not None:
        field += b'; filename="' + escape_parameter(filename) + b'"'
    return field + b"\r\n"


def _file_parts(file: object) -> tuple[str | None, FileContent, str | None, Mapping[str, str]]:
    if not isinstance(file, tuple):
        name = getattr(file, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) else None
        file = (filename, file)
    filename, content, content_type, headers = (*file, None, {})[:4]
    if not isinstance(content, bytes | str) and not hasattr(content, "read"):
        raise LocalProtocolError(f"a file must be bytes, str or a binary file: {content!r}")
    return filename, content, content_type, headers or {}


def _guess(filename: str | None) -> str:
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed is not None:
            return guessed
    return "application/octet-stream"


def _latin1(value: str) -> bytes:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"a part's header value has CR or LF: {value!r}")
    try:
        return value.encode("latin-1")
    except UnicodeError:
        raise LocalProtocolError(f"a part's header must be latin-1: {value!r}") from None


def _file_size(file: IO[bytes]) -> int | None:
    """Bytes left to read in ``file``, when it can tell (a regular file); else None."""
    try:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            return None  # a pipe or a socket: its st_size says nothing
        return max(0, status.st_size - file.tell())
    except (AttributeError, OSError, ValueError):
        pass
    try:  # an in-memory file (BytesIO): seek to its end and back
        position = file.tell()
        size = file.seek(0, os.SEEK_END)
        file.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, size - position)
