"""multipart/form-data bodies: exact bytes, and parsed by a real framework parser
(Starlette's ``request.form()`` over python-multipart) behind Ferry's server."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ferry import LocalProtocolError
from ferry.client import Client
from ferry.client._multipart import encode_multipart, escape_parameter

from ..support import ServerThread, serving


async def form(request: Request) -> JSONResponse:
    """Each field of the parsed form: [name, value] or [name, filename, type, content]."""
    fields: list[list[str]] = []
    async with request.form() as parsed:  # closes the uploaded files' spools
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                content = (await value.read()).decode("utf-8")
                fields.append([name, value.filename or "", value.content_type or "", content])
            else:
                fields.append([name, value])
    return JSONResponse(fields)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    app = Starlette(routes=[Route("/form", form, methods=["POST"])])
    with serving(app) as running:
        yield running


def test_exact_bytes() -> None:
    body = encode_multipart(
        {"a": "1", "n": [2, "3"]}, [("f", ("x.txt", b"hi")), ("g", b"\x00")], "B0"
    )
    expected = (
        b'--B0\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--B0\r\nContent-Disposition: form-data; name="n"\r\n\r\n2\r\n'
        b'--B0\r\nContent-Disposition: form-data; name="n"\r\n\r\n3\r\n'
        b'--B0\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n"
        b'--B0\r\nContent-Disposition: form-data; name="g"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n"
        b"--B0--\r\n"
    )
    assert body.content_type == b"multipart/form-data; boundary=B0"
    assert b"".join(body) == expected
    assert body.length == len(expected)


def test_escaping_as_browsers_do() -> None:
    assert escape_parameter('a"b\r\nc\\d é') == b"a%22b%0D%0Ac\\d \xc3\xa9"
    body = encode_multipart(None, {'q"x': ('evil"\r\nname.bin', b"", "a/b", {"X-A": "1"})}, "b")
    assert b"".join(body) == (
        b'--b\r\nContent-Disposition: form-data; name="q%22x"; filename="evil%22%0D%0Aname.bin"'
        b"\r\nContent-Type: a/b\r\nX-A: 1\r\n\r\n\r\n--b--\r\n"
    )


def test_a_file_is_read_in_blocks_and_sized(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * 200_000)
    with path.open("rb") as file:
        body = encode_multipart(None, {"up": file}, "b")
        pieces = list(body)
    head = b'--b\r\nContent-Disposition: form-data; name="up"; filename="big.bin"\r\n'
    head += b"Content-Type: application/octet-stream\r\n\r\n"
    assert pieces[0] == head
    assert [len(piece) for piece in pieces[1:-2]] == [65536, 65536, 65536, 3392]
    assert body.length == sum(len(piece) for piece in pieces)


def test_unknown_size_and_bad_input() -> None:
    read, write = os.pipe()
    with os.fdopen(read, "rb") as pipe:
        os.close(write)
        assert encode_multipart(None, {"p": pipe}).length is None
    assert encode_multipart(None, {"m": io.BytesIO(b"abc")}).length is not None
    with pytest.raises(LocalProtocolError):
        encode_multipart(None, {"x": ("n", 3)})  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode_multipart(None, {"x": ("n", b"", "a\r\nb")})
    with pytest.raises(LocalProtocolError):
        encode_multipart(None, {"x": ("n", b"", "é€")})
    with pytest.raises(LocalProtocolError):
        encode_multipart(None, None, boundary="no spaces")


def test_parsed_by_starlette(server: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("from a file\n")
    url = f"http://127.0.0.1:{server.port}/form"
    with Client() as client, path.open("rb") as file:
        files = [
            ("doc", file),
            ("odd", ('we"ird\r\nna\\me.txt', "é text", "text/x-odd")),
        ]
        body = encode_multipart({"title": "héllo", "n": 1}, files)
        assert body.length is not None
        headers = {"Content-Type": body.content_type.decode()}
        # a generator: chunked, so the parser meets the body in pieces
        response = client.post(url, headers=headers, body=iter(body))
    assert response.status == 200
    assert json.loads(response.content or b"") == [
        ["title", "héllo"],
        ["n", "1"],
        ["doc", "notes.txt", "text/plain", "from a file\n"],
        # python-multipart keeps the browser's escapes as sent (as Django and PHP do)
        ["odd", "we%22ird%0D%0Ana\\me.txt", "text/x-odd", "é text"],
    ]
