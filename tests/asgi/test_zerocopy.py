"""The ASGI zero-copy extensions (pathsend, zerocopysend) and the Server-Timing inputs of
``ferry.exchange``, over real sockets on both loops."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pytest

from ferry.asgi import ASGIApp, Receive, Scope, Send

from ..server._helpers import FIXED_DATE, head, open_connection, parse_fields
from ..support import serving

CONTENT = bytes(range(256)) * 1024 + b"tail"  # 262,148 bytes: several 64 KiB pieces


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


def pathsend_app(path: Path, headers: list[tuple[bytes, bytes]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["extensions"]["http.response.pathsend"] == {}
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})

    return app


def zerocopy_app(file: IO[bytes], ranges: list[tuple[int | None, int | None]]) -> ASGIApp:
    """Sends ``ranges`` (offset, count) of the file as successive zerocopysend pieces."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["extensions"]["http.response.zerocopysend"] == {}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index, (offset, count) in enumerate(ranges):
            message: dict[str, Any] = {
                "type": "http.response.zerocopysend",
                "file": file if index % 2 == 0 else file.fileno(),
                "more_body": index < len(ranges) - 1,
            }
            if offset is not None:
                message["offset"] = offset
            if count is not None:
                message["count"] = count
            await send(message)

    return app


def test_pathsend_sends_the_whole_file_with_its_length(loop_name: str, data_file: Path) -> None:
    app = pathsend_app(data_file, [(b"content-type", b"application/octet-stream")])
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "content-type: application/octet-stream",
            FIXED_DATE.decode().rstrip(),
            "Server: ferry",
            f"Content-Length: {len(CONTENT)}",
        )
        + CONTENT
    )


def test_pathsend_to_head_sends_no_body(loop_name: str, data_file: Path) -> None:
    with serving(pathsend_app(data_file, []), loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"HEAD /f HTTP/1.1\r\nHost: t\r\n\r\nGET /f HTTP/1.1\r\nHost: t\r\n\r\n")
            first = reader.response(head_request=True)
            second = reader.response()
    assert parse_fields(first)[b"content-length"] == str(len(CONTENT)).encode()
    assert second.endswith(b"\r\n\r\n" + CONTENT)


def test_zerocopysend_ranges_are_chunked_when_the_length_is_unknown(
    loop_name: str, data_file: Path
) -> None:
    ranges: list[tuple[int | None, int | None]] = [(10, 5), (70000, 100000), (None, None)]
    with data_file.open("rb") as file, serving(zerocopy_app(file, ranges), loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    assert parse_fields(head_bytes + b"\r\n\r\n")[b"transfer-encoding"] == b"chunked"
    # The third piece has no offset: it starts at the file's position (0, never moved by
    # the explicit-offset pieces) and runs to the end of the file.
    expected = [CONTENT[10:15], CONTENT[70000:170000], CONTENT]
    assert body == b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in expected) + b"0\r\n\r\n"


def test_zerocopysend_with_content_length_is_not_chunked(loop_name: str, data_file: Path) -> None:
    opened = data_file.open("rb")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"1000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with opened as file:
            fd = file.fileno()
            await send(
                {
                    "type": "http.response.zerocopysend",
                    "file": fd,
                    "offset": 0,
                    "count": 600,
                    "more_body": True,
                }
            )
            await send(
                {"type": "http.response.zerocopysend", "file": fd, "offset": 600, "count": 400}
            )

    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.response()
    assert response.endswith(b"Content-Length: 1000\r\n\r\n" + CONTENT[:1000])


def test_pathsend_of_a_missing_file_is_a_500(loop_name: str, tmp_path: Path) -> None:
    with serving(pathsend_app(tmp_path / "missing", []), loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
            response = reader.to_close()
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


def test_exchange_carries_head_times_for_server_timing(loop_name: str) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["extensions"]["ferry.exchange"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            sock.sendall(b"Host: t\r\n\r\n")
            reader.response()
    exchange = seen[0]
    assert 0 < exchange["head_start"] <= exchange["head_end"]
    assert exchange["requests_on_connection"] == 1


def test_file_fd_stays_open_for_the_app() -> None:
    # zerocopysend given a bare descriptor must not close it (the app owns it).
    read, write = os.pipe()
    os.close(write)
    from ferry.asgi._files import zerocopy_range

    file, offset, count, more, advance = zerocopy_range(
        {"type": "http.response.zerocopysend", "file": read, "offset": 0, "count": 0}
    )
    del file
    os.fstat(read)  # still open
    os.close(read)
    assert (offset, count, more, advance) == (0, 0, False, False)
