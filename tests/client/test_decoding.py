"""br and zstd response bodies (with the optional brotli and zstandard packages), the
decompression limit on them, and what happens when a package is missing: the coding is
neither advertised nor decoded (the body is handed over as received, as httpx does)."""

from __future__ import annotations

import gzip
import socket
import sys
import tracemalloc
import types
from collections.abc import Callable

import pytest

from ferry import __version__
from ferry.client import AsyncClient, Client, DecodingError, ResponseTooLarge
from ferry.client import _decoders as decoders

from .rawserver import ScriptedServer, read_head, wait_closed
from .test_async_client import run

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

TEXT = b"".join(b"line %d of a compressible body\n" % i for i in range(40_000))  # ~1.2 MB


def br(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=5))  # the default (11) takes seconds here


def zstd(data: bytes) -> bytes:
    return bytes(zstandard.ZstdCompressor().compress(data))


COMPRESS: dict[bytes, Callable[[bytes], bytes]] = {b"br": br, b"zstd": zstd}


def chunked(data: bytes, size: int = 1000) -> bytes:
    """``data`` as a chunked body of ``size``-byte chunks: the decoder gets many pieces."""
    pieces = [
        b"%x\r\n%s\r\n" % (len(p), p)
        for p in (data[i : i + size] for i in range(0, len(data), size))
    ]
    return b"".join(pieces) + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
DEFAULTS = b"User-Agent: ferry/%s\r\nAccept: */*\r\nConnection: keep-alive\r\n" % (
    __version__.encode()
)


class CodingServer(ScriptedServer):
    """Answers each request with ``encoded`` as a chunked body, labelled with
    Content-Encoding ``coding``; records the request heads in ``heads``."""

    def __init__(self, coding: bytes, encoded: bytes) -> None:
        super().__init__(self._answer)
        self.heads: list[bytes] = []
        self.response = HEAD % coding + chunked(encoded)

    def _answer(self, sock: socket.socket, index: int) -> None:
        self.heads.append(read_head(sock))
        sock.sendall(self.response)
        wait_closed(sock)


def test_accept_encoding_names_the_installed_codings() -> None:
    assert decoders.accept_encoding() == b"gzip, deflate, br, zstd"


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_decoded_over_a_socket(coding: bytes) -> None:
    with CodingServer(coding, COMPRESS[coding](TEXT)) as server, Client() as client:
        response = client.get(f"http://127.0.0.1:{server.port}/")
        assert response.content == TEXT
        assert response.header("content-encoding") == coding.decode()
    assert server.heads == [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
        b"Accept-Encoding: gzip, deflate, br, zstd\r\n\r\n" % (server.port, DEFAULTS)
    ]


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_async_decoded_over_a_socket(coding: bytes, loop_name: str) -> None:
    async def main(port: int) -> None:
        async with (
            AsyncClient() as client,
            client.stream("GET", f"http://127.0.0.1:{port}/") as response,
        ):
            pieces = [piece async for piece in response.iter_bytes()]
        assert b"".join(pieces) == TEXT
        assert len(pieces) > 1  # decoded as it arrived, not at the end

    with CodingServer(coding, COMPRESS[coding](TEXT)) as server:
        run(loop_name, main(server.port))


def test_zstd_body_of_several_frames() -> None:
    encoded = zstd(TEXT[:1000]) + zstd(b"") + zstd(TEXT[1000:])
    with CodingServer(b"zstd", encoded) as server, Client() as client:
        assert client.get(f"http://127.0.0.1:{server.port}/").content == TEXT


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_bomb_is_stopped(coding: bytes) -> None:
    bomb = COMPRESS[coding](b"\0" * (64 << 20))  # 64 MiB of zeros in a few KiB
    assert len(bomb) < 64 << 10
    with CodingServer(coding, bomb) as server, Client(max_decompression_ratio=10) as client:
        with pytest.raises(DecodingError, match="larger than the decompression limit"):
            client.get(f"http://127.0.0.1:{server.port}/")
        assert client.pool.open_connections == 0


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_bomb_is_stopped_before_it_takes_memory(coding: bytes) -> None:
    """The limit holds while decoding, not after: one piece of 64 KiB encoded, 64 MiB
    decoded, raises having allocated a few MiB."""
    bomb = COMPRESS[coding](b"\0" * (64 << 20))
    decoder = decoders.decoder_for(coding, max_ratio=10)
    tracemalloc.start()
    try:
        with pytest.raises(DecodingError, match="larger than the decompression limit"):
            decoder.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("coding", [b"gzip", b"br", b"zstd"])
def test_the_response_size_limit_holds_while_decoding(coding: bytes) -> None:
    """``max_response_size`` bounds each decoder's output too, within the ratio's
    budget: 16 MiB of zeros, a few KiB encoded, stop at 1 MiB + 1 byte having allocated
    a few MiB (ResponseTooLarge, not DecodingError: the ratio is not what ran out)."""
    compress = {b"gzip": gzip.compress, **COMPRESS}[coding]
    bomb = compress(b"\0" * (16 << 20))
    decoder = decoders.decoder_for(coding, max_ratio=1000, max_size=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as raised:
            decoder.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert raised.value.limit == 1 << 20
    assert raised.value.size > 1 << 20


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_truncated_body(coding: bytes) -> None:
    encoded = COMPRESS[coding](TEXT)
    with (
        CodingServer(coding, encoded[:-10]) as server,
        Client() as client,
        pytest.raises(DecodingError, match="compressed body ended early"),
    ):
        client.get(f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_corrupt_body(coding: bytes) -> None:
    with (
        CodingServer(coding, b"\xff" * 100) as server,
        Client() as client,
        pytest.raises(DecodingError, match="invalid compressed body"),
    ):
        client.get(f"http://127.0.0.1:{server.port}/")


def test_zstd_window_larger_than_8_mib_is_refused() -> None:
    """RFC 9659 §3: a decoder may refuse windows over 8 MiB, and so bounds its memory."""
    params = zstandard.ZstdCompressionParameters(window_log=24, write_content_size=False)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    encoded = compressor.compress(TEXT) + compressor.flush()
    assert zstandard.get_frame_parameters(encoded).window_size == 16 << 20
    decoder = decoders.decoder_for(b"zstd", max_ratio=1000)
    with pytest.raises(DecodingError, match="invalid compressed body"):
        decoder.decode(encoded)


@pytest.mark.parametrize("coding", [b"BR", b" zstd "])
def test_coding_names_are_case_insensitive(coding: bytes) -> None:
    decoder = decoders.decoder_for(coding, max_ratio=1000)
    assert decoder.decode(COMPRESS[coding.strip().lower()](b"abc")) + decoder.flush() == b"abc"


def test_missing_packages_are_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """None in sys.modules makes an import fail, as if the package were not installed."""
    for name in ("brotli", "brotlicffi", "zstandard"):
        monkeypatch.setitem(sys.modules, name, None)
    assert (decoders.load_brotli(), decoders.load_zstandard()) == (None, None)


def test_brotli_without_an_output_limit_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """brotli before 1.2 cannot bound its output: brotlicffi is taken instead, or none."""
    old = types.SimpleNamespace(Decompressor=type("Decompressor", (), {}))
    monkeypatch.setitem(sys.modules, "brotli", old)
    monkeypatch.setitem(sys.modules, "brotlicffi", None)
    assert decoders.load_brotli() is None
    monkeypatch.setitem(sys.modules, "brotlicffi", brotli)
    assert decoders.load_brotli() is brotli


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_without_the_packages_the_body_is_handed_over(
    coding: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoders, "_BROTLI", None)
    monkeypatch.setattr(decoders, "_ZSTANDARD", None)
    encoded = COMPRESS[coding](TEXT)
    with CodingServer(coding, encoded) as server, Client() as client:
        response = client.get(f"http://127.0.0.1:{server.port}/")
        assert response.content == encoded
        assert response.header("content-encoding") == coding.decode()
    assert server.heads == [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sAccept-Encoding: gzip, deflate\r\n\r\n"
        % (server.port, DEFAULTS)
    ]
