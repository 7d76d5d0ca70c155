"""Chunked request bodies in, chunked (or close-delimited) response bodies out, and response
trailers through the ASGI ``http.response.trailers`` extension (RFC 9112 §7)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ferry.asgi import Receive, Scope, Send

from ..support import serving
from ._helpers import FIXED_DATE, body_echo, head, open_connection, read_body, run_curl

DATE = FIXED_DATE.decode().rstrip()


def echoed(body: bytes, *tail: str) -> bytes:
    fields = (DATE, "Server: ferry", f"Content-Length: {len(body)}")
    return head("HTTP/1.1 200 OK", *fields, *tail) + body


def test_raw_chunked_upload(loop_name: str) -> None:
    request = (
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n"
        b"6;name=value\r\n world\r\n"  # a chunk extension is ignored
        b"A\r\n, chunked!\r\n"  # hex size, upper case
        b"0\r\nx-checksum: 1234\r\n\r\n"  # a trailer section
    )
    with serving(body_echo, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(request)
            assert reader.response() == echoed(b"hello world, chunked!")
            # The connection is reusable after a chunked body with trailers.
            sock.sendall(b"POST /again HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.sendall(b"3\r\nabc\r\n")
            sock.sendall(b"0\r\n\r\n")
            assert reader.response() == echoed(b"abc")


def test_chunked_upload_byte_by_byte_reaches_the_app_whole(loop_name: str) -> None:
    request = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
    with serving(body_echo, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(request)
            for i in range(len(body)):
                sock.sendall(body[i : i + 1])
            assert reader.response() == echoed(b"Wikipedia in\r\n\r\nchunks.")


def test_curl_chunked_upload(loop_name: str, tmp_path: Path) -> None:
    payload = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    seen: list[tuple[bytes, bytes]] = []

    async def digest_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.extend(scope["headers"])
        body = await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        digest = hashlib.sha256(body).hexdigest().encode()
        await send({"type": "http.response.body", "body": digest})

    with serving(digest_app, loop_name) as server:
        result = run_curl(
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            f"@{upload}",
            f"http://127.0.0.1:{server.port}/",
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(payload).hexdigest().encode()
    assert (b"transfer-encoding", b"chunked") in seen
    assert not any(name == b"content-length" for name, _ in seen)


async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Three pieces (one of them empty) with more_body=True, no Content-Length."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    for piece in (b"hello", b"", b", streamed world"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"!"})


def test_streamed_response_is_chunked_on_http11(loop_name: str) -> None:
    with serving(streaming_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response() == response  # the connection stays usable
    expected_head = head(
        "HTTP/1.1 200 OK",
        "x-a: 1",
        DATE,
        "Server: ferry",
        "Transfer-Encoding: chunked",
    )
    # The empty piece sends nothing: a zero-size chunk would end the body early.
    body = b"5\r\nhello\r\n10\r\n, streamed world\r\n1\r\n!\r\n0\r\n\r\n"
    assert response == expected_head + body


def test_streamed_response_is_close_delimited_on_http10(loop_name: str) -> None:
    with serving(streaming_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            received = reader.to_close()  # RFC 9112 §6.3 (8): the close ends the body
    expected_head = head("HTTP/1.1 200 OK", "x-a: 1", DATE, "Server: ferry", "Connection: close")
    assert received == expected_head + b"hello, streamed world!"


async def trailers(scope: Scope, receive: Receive, send: Send) -> None:
    """Body in two pieces, then trailers (the http.response.trailers extension)."""
    assert scope["extensions"]["http.response.trailers"] == {}
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-digest, x-count")],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"part one, ", "more_body": True})
    await send({"type": "http.response.body", "body": b"part two"})
    await send(
        {
            "type": "http.response.trailers",
            "headers": [(b"x-digest", b"abc123"), (b"x-count", b"2")],
        }
    )


def test_response_trailers_follow_the_last_chunk(loop_name: str) -> None:
    with serving(trailers, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
            response = reader.response()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            closing = reader.to_close()
    expected_head = head(
        "HTTP/1.1 200 OK",
        "trailer: x-digest, x-count",
        DATE,
        "Server: ferry",
        "Transfer-Encoding: chunked",
    )
    body = b"a\r\npart one, \r\n8\r\npart two\r\n0\r\nx-digest: abc123\r\nx-count: 2\r\n\r\n"
    assert response == expected_head + body
    assert closing == expected_head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body


def test_response_trailers_are_dropped_for_http10(loop_name: str) -> None:
    with serving(trailers, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            received = reader.to_close()
    expected_head = head(
        "HTTP/1.1 200 OK",
        "trailer: x-digest, x-count",
        DATE,
        "Server: ferry",
        "Connection: close",
    )
    assert received == expected_head + b"part one, part two"


def test_curl_reads_a_chunked_download(loop_name: str) -> None:
    piece = bytes(range(256)) * 64

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(100):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body"})

    with serving(app, loop_name) as server:
        result = run_curl("-D", "-", f"http://127.0.0.1:{server.port}/")
    assert result.returncode == 0, result.stderr
    response_head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in response_head
    assert body == piece * 100
