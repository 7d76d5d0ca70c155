"""Content-Encoding decoders (RFC 9110 §8.4) with a limit against decompression bombs."""

from __future__ import annotations

import zlib

from .._errors import DecodingError

__all__ = ["Decoder", "IdentityDecoder", "ZlibDecoder", "decoder_for"]

_SLACK = 1 << 20  # decoded bytes always allowed, whatever the ratio


class IdentityDecoder:
    """No Content-Encoding (or one we leave to the caller)."""

    __slots__ = ()

    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class ZlibDecoder:
    """gzip or deflate, bounded: the decoded body may not grow past ``max_ratio`` times
    the encoded bytes (plus 1 MiB), which no honest compressor reaches but a bomb does."""

    __slots__ = ("_decoded", "_encoded", "_max_ratio", "_zlib")

    def __init__(self, coding: bytes, max_ratio: int) -> None:
        # RFC 9110 §8.4.1.2: "deflate" is the zlib format (RFC 1950), not raw deflate.
        wbits = 16 + zlib.MAX_WBITS if coding == b"gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)
        self._max_ratio = max_ratio
        self._encoded = 0
        self._decoded = 0

    def decode(self, data: bytes) -> bytes:
        self._encoded += len(data)
        budget = self._encoded * self._max_ratio + _SLACK - self._decoded
        try:
            # Asking for one byte more than the budget shows whether it would be exceeded.
            out = self._zlib.decompress(data, budget + 1)
        except zlib.error as exc:
            raise DecodingError(f"invalid compressed body: {exc}") from None
        self._decoded += len(out)
        if len(out) > budget:
            raise DecodingError("decoded body larger than the decompression limit allows")
        return out

    def flush(self) -> bytes:
        if not self._zlib.eof and self._encoded:
            raise DecodingError("compressed body ended early")
        return b""


Decoder = IdentityDecoder | ZlibDecoder


def decoder_for(content_encoding: bytes | None, max_ratio: int) -> Decoder:
    """A decoder for the response's Content-Encoding; identity for none or an unknown one
    (the body is then handed over as received, and the field tells the caller)."""
    if content_encoding is None:
        return IdentityDecoder()
    coding = content_encoding.strip().lower()
    if coding in (b"gzip", b"x-gzip"):
        return ZlibDecoder(b"gzip", max_ratio)
    if coding == b"deflate":
        return ZlibDecoder(b"deflate", max_ratio)
    return IdentityDecoder()
