"""What ``ferry fetch``'s curl options send: the method, the URL, the header fields and
the body, built as curl builds them (curl 7.88's manual, and its behaviour side by side in
tests/client/test_fetch_curl.py).

- ``-d``/``--data`` (``@FILE`` read with its CR and LF dropped, ``@-`` stdin),
  ``--data-raw``, ``--data-binary``, ``--data-urlencode``: joined with ``&``, sent as
  ``application/x-www-form-urlencoded`` with POST; with ``-G`` put into the query instead.
- ``--json``: the pieces joined as they are, ``Content-Type`` and ``Accept``
  ``application/json``, POST.
- ``-T FILE``: PUT the file (its name appended to a URL that ends with ``/``); ``-T -``
  streams stdin, chunked.
- ``-H 'Name: value'`` replaces the field of that name, ``-H 'Name:'`` removes it (a
  default too), ``-H 'Name;'`` sends it empty, ``-H @FILE`` reads one field per line.
- ``-F``/``--form``, ``--form-string``: multipart/form-data (client/_multipart.py).
- ``-u user:password`` (Basic), ``-A``, ``-e``, ``-I`` (HEAD), ``-C`` (a ``Range``).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from .._errors import FerryError
from .._version import __version__
from ._decoders import accept_encoding
from ._models import Body
from ._multipart import FileInput, MultipartBody, encode_multipart

__all__ = ["USER_AGENT", "FetchRequest", "RequestProblem", "build_request", "remote_name"]

USER_AGENT = f"ferry/{__version__}"
_BLOCK = 65536


class RequestProblem(FerryError):
    """The options cannot make a request; ``status`` is curl's exit status for it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class FetchRequest:
    """A request as the options describe it."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: Body = None
    removed: set[str] = field(default_factory=set)
    """Lower-case names of fields not to send, whoever adds them (the client's defaults)."""
    resume_from: int = 0
    """The offset ``-C`` resumes from (0: not resuming)."""


def build_request(args: argparse.Namespace, warn: IO[str] | None = None) -> FetchRequest:
    """The request ``args`` describe. ``warn``: where curl's warnings go (a ``-d @FILE``
    that cannot be read sends an empty body, as curl does). Raises RequestProblem."""
    warn = warn or sys.stderr
    url = args.url
    data = _form_data(args, warn)
    json_data = _json_data(args, warn) if args.json else None
    body: Body = None
    content_type = None
    if args.get and (data is not None or json_data is not None):
        query = data if data is not None else json_data
        assert query is not None
        url = _with_query(url, query.decode("latin-1"))
    elif json_data is not None:
        body, content_type = json_data, "application/json"
    elif data is not None:
        body, content_type = data, "application/x-www-form-urlencoded"
    if args.form:
        if data is not None or json_data is not None:
            raise RequestProblem("-F cannot be used with -d or --json", 2)
        form = _multipart(args.form)
        body, content_type = form, form.content_type.decode("ascii")
    if args.upload_file:
        url, body = _upload(url, args.upload_file)
    method = args.method or _default_method(args, body)
    resume_from = _resume_offset(args)
    headers = _own_headers(args, json_data is not None, content_type, resume_from)
    if isinstance(body, MultipartBody) and body.length is not None:
        headers.append(("Content-Length", str(body.length)))  # sent whole, not chunked
    request = FetchRequest(method, url, headers, body, resume_from=resume_from)
    for line in _header_lines(args.headers):
        _apply_header(request, line)
    sent = _names(request.headers)
    if not args.compressed and "accept-encoding" not in sent:
        # curl sends no Accept-Encoding without --compressed (and decodes nothing).
        request.removed.add("accept-encoding")
    # The client's other defaults that curl does not send: Connection (HTTP/1.1 keeps
    # the connection open without it), and User-Agent after -A ''.
    unsent = {"connection", "user-agent"} if args.user_agent == "" else {"connection"}
    request.removed.update(unsent - sent)
    return request


def _default_method(args: argparse.Namespace, body: Body) -> str:
    if args.head:
        return "HEAD"
    if args.upload_file:
        return "PUT"
    return "POST" if body is not None else "GET"


def _own_headers(
    args: argparse.Namespace, json: bool, content_type: str | None, resume_from: int
) -> list[tuple[str, str]]:
    """The fields curl sends of its own accord, in curl's order."""
    headers = []
    if args.user_agent != "":
        headers.append(("User-Agent", args.user_agent or USER_AGENT))
    headers.append(("Accept", "application/json" if json else "*/*"))
    if args.compressed:
        headers.append(("Accept-Encoding", accept_encoding().decode("latin-1")))
    if args.user is not None:
        headers.append(("Authorization", _basic(args.user, args.url)))
    if args.referer:
        headers.append(("Referer", args.referer))
    if resume_from:
        headers.append(("Range", f"bytes={resume_from}-"))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return headers


def _names(headers: list[tuple[str, str]]) -> set[str]:
    return {name.lower() for name, _ in headers}


def _basic(user: str, url: str) -> str:
    """``Basic`` credentials (RFC 7617) for ``-u user:password``; a ``-u user`` without a
    password asks for it, as curl does."""
    name, colon, password = user.partition(":")
    if not colon:
        host = urlsplit(url).hostname or ""
        password = getpass.getpass(f"Enter host password for user '{name}' ({host}):")
    token = base64.b64encode(f"{name}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _header_lines(given: list[str]) -> Iterator[str]:
    """The ``-H`` values, a ``-H @FILE`` read line by line."""
    for value in given:
        if value.startswith("@"):
            try:
                text = _read(value[1:]).decode("latin-1")
            except OSError as exc:
                raise RequestProblem(f"cannot read the header file: {exc}", 26) from None
            yield from (line for line in text.splitlines() if line.strip())
        else:
            yield value


def _apply_header(request: FetchRequest, line: str) -> None:
    """One ``-H``: ``Name: value`` replaces, ``Name:`` removes, ``Name;`` sends empty."""
    name, colon, value = line.partition(":")
    empty = not colon and line.rstrip().endswith(";")
    if empty:
        name = line.rstrip()[:-1]
    if (not colon and not empty) or not name.strip() or " " in name.strip():
        raise RequestProblem(f"a header is 'Name: value', not {line!r}", 3)
    name, value = name.strip(), value.strip()
    lower = name.lower()
    request.headers = [(n, v) for n, v in request.headers if n.lower() != lower]
    if colon and not value:
        request.removed.add(lower)
        return
    request.removed.discard(lower)
    request.headers.append((name, value))


def _form_data(args: argparse.Namespace, warn: IO[str]) -> bytes | None:
    """The ``-d``-family pieces, in the order given, joined with ``&``; None if none."""
    if not args.data:
        return None
    pieces = [_data_piece(kind, value, warn) for kind, value in args.data]
    return b"&".join(pieces)


def _data_piece(kind: str, value: str, warn: IO[str]) -> bytes:
    if kind == "raw":
        return value.encode()
    if kind == "urlencode":
        return _urlencoded(value, warn)
    if not value.startswith("@"):
        return value.encode()
    try:
        data = _read(value[1:])
    except OSError:
        warn.write(
            f'Warning: Couldn\'t read data from file "{value[1:]}", this makes an empty POST.\n'
        )
        return b""
    # curl -d @FILE (not --data-binary) drops carriage returns and newlines.
    return data if kind == "binary" else data.replace(b"\r", b"").replace(b"\n", b"")


def _urlencoded(value: str, warn: IO[str]) -> bytes:
    """``--data-urlencode``: ``content``, ``=content``, ``name=content``, ``@file``,
    ``name@file``; the content percent-encoded as curl does it (all but unreserved
    characters, a space as ``+``)."""
    name, equals, content = value.partition("=")
    at = value.find("@")
    if at >= 0 and (not equals or at < len(name)):
        name, path = value[:at], value[at + 1 :]
        try:
            data = _read(path)
        except OSError:
            warn.write(f'Warning: Couldn\'t read data from file "{path}", skipping.\n')
            data = b""
        encoded = quote_plus(data, safe="")
    elif equals:
        encoded = quote_plus(content, safe="")
    else:
        name, encoded = "", quote_plus(value, safe="")
    return (f"{name}={encoded}" if name else encoded).encode("ascii")


def _json_data(args: argparse.Namespace, warn: IO[str]) -> bytes:
    """``--json`` pieces, each as ``--data-binary`` reads it, joined as they are."""
    return b"".join(_data_piece("binary", value, warn) for value in args.json)


def _multipart(given: list[tuple[str, str]]) -> MultipartBody:
    """``-F name=value``, ``-F name=@FILE`` (a file part), ``-F name=<FILE`` (a field
    with the file's content), each with ``;type=`` and ``;filename=``; ``--form-string
    name=value`` as written. The plain fields go first, then the files (the encoder's
    order; curl keeps the order given)."""
    fields: list[tuple[str, object]] = []
    files: list[tuple[str, FileInput]] = []
    for kind, value in given:
        name, equals, content = value.partition("=")
        if not equals or not name:
            raise RequestProblem(f"-F takes NAME=CONTENT, not {value!r}", 2)
        if kind == "string" or not content.startswith(("@", "<")):
            fields.append((name, content))
            continue
        path, *options = content[1:].split(";")
        settings = dict(option.strip().partition("=")[::2] for option in options)
        try:
            data = _read(path)
        except OSError as exc:
            raise RequestProblem(f"cannot read {path!r}: {exc.strerror}", 26) from None
        if content.startswith("<"):
            fields.append((name, data))
        else:
            filename = settings.get("filename", os.path.basename(path) if path != "-" else "")
            files.append((name, (filename, data, settings.get("type"))))
    return encode_multipart(fields, files, boundary=f"{'-' * 24}{os.urandom(8).hex()}")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _with_query(url: str, query: str) -> str:
    """``-G``: the data appended to the query, with ``?`` or ``&``."""
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


def _upload(url: str, path: str) -> tuple[str, Body]:
    """``-T``: the URL (the file name appended to one without a file part) and the body:
    the file (its size known), or stdin streamed in chunks."""
    if path == "-":
        return url, _blocks(sys.stdin.buffer)
    parts = urlsplit(url)
    if not parts.path or parts.path.endswith("/"):
        url = urlunsplit(parts._replace(path=(parts.path or "/") + quote(os.path.basename(path))))
    try:
        return url, open(path, "rb")
    except OSError as exc:
        raise RequestProblem(f"cannot read {path!r}: {exc.strerror}", 26) from None


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    while block := stream.read(_BLOCK):
        yield block


def _resume_offset(args: argparse.Namespace) -> int:
    """``-C OFFSET``, or ``-C -``: the size of the ``-o`` file (0 if there is none)."""
    if args.continue_at is None:
        return 0
    if args.continue_at == "-":
        output = args.output or (remote_name(args.url) if args.remote_name else None)
        try:
            return os.path.getsize(output) if output else 0
        except OSError:
            return 0
    try:
        offset = int(args.continue_at)
    except ValueError:
        raise RequestProblem(f"-C takes an offset or '-', not {args.continue_at!r}", 2) from None
    if offset < 0:
        raise RequestProblem("-C takes an offset of 0 or more", 2)
    return offset


def remote_name(url: str) -> str:
    """``-O``: the last segment of the URL's path ("" if it has none)."""
    return os.path.basename(urlsplit(url).path)
