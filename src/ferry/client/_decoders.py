"""Content-Encoding decoders (RFC 9110 §8.4) with a limit against decompression bombs.

gzip and deflate come with the standard library; br (RFC 7932) and zstd (RFC 8878) are
decoded when the optional ``brotli`` (or ``brotlicffi``) and ``zstandard`` packages are
installed (``pip install ferry[compression]``). ``accept_encoding()`` names only what
this installation decodes. A coding we cannot decode is handed over as received, as
httpx does: the ``Content-Encoding`` field then tells the caller what the bytes are.

Every decoder bounds the decoded size as it goes, never after the fact: the body may
not grow past ``max_ratio`` times the encoded bytes received so far, plus 1 MiB, which
no honest compressor reaches but a bomb does (``DecodingError``), nor past the client's
``max_response_size`` (``ResponseTooLarge``): no piece decodes to more than one byte
beyond either.
"""

from __future__ import annotations

import importlib
import zlib
from types import ModuleType
from typing import Any

from .._errors import DecodingError
from ._limits import too_large

__all__ = [
    "BrotliDecoder",
    "Decoder",
    "IdentityDecoder",
    "ZlibDecoder",
    "ZstdDecoder",
    "accept_encoding",
    "decoder_for",
]

_SLACK = 1 << 20  # decoded bytes always allowed, whatever the ratio
# RFC 8878 §3.1.1.2.4: a block decodes to at most 128 KiB and takes at least 4 bytes
# (a 3-byte header and one RLE byte): an encoded byte yields at most 32 KiB.
_ZSTD_MAX_EXPANSION = 32 * 1024
_ZSTD_MIN_STEP = 64  # encoded bytes fed at once however little budget is left
# RFC 9659 §3: decoders of the zstd content coding support windows up to 8 MiB, and
# may refuse larger ones; refusing bounds a decoder's memory.
_ZSTD_MAX_WINDOW = 8 << 20


def load_brotli() -> ModuleType | None:
    """``brotli`` or else ``brotlicffi``, if one that can bound its output (1.2 and
    later) is installed; None otherwise."""
    for name in ("brotli", "brotlicffi"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module.Decompressor, "can_accept_more_data"):
            return module
    return None


def load_zstandard() -> ModuleType | None:
    """``zstandard`` if it is installed; None otherwise."""
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


_BROTLI = load_brotli()
_ZSTANDARD = load_zstandard()


def accept_encoding() -> bytes:
    """The Accept-Encoding value (RFC 9110 §12.5.3) naming what can be decoded here."""
    codings = [b"gzip", b"deflate"]
    if _BROTLI is not None:
        codings.append(b"br")
    if _ZSTANDARD is not None:
        codings.append(b"zstd")
    return b", ".join(codings)


class IdentityDecoder:
    """No Content-Encoding (or one we leave to the caller)."""

    __slots__ = ()

    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Bounded:
    """The limits' bookkeeping: ``_budget`` before decoding a piece, ``_count`` after."""

    __slots__ = ("_decoded", "_encoded", "_max_ratio", "_max_size")

    def __init__(self, max_ratio: int, max_size: int | None) -> None:
        self._max_ratio = max_ratio
        self._max_size = max_size
        self._encoded = 0
        self._decoded = 0

    def _budget(self, data: bytes) -> int:
        """Count ``data`` in; return how many decoded bytes may still come."""
        self._encoded += len(data)
        budget = self._encoded * self._max_ratio + _SLACK - self._decoded
        if self._max_size is not None and self._max_size - self._decoded < budget:
            return self._max_size - self._decoded
        return budget

    def _count(self, out: bytes, budget: int) -> bytes:
        """Count ``out`` in; raise ResponseTooLarge or DecodingError if it is more than
        ``budget``."""
        self._decoded += len(out)
        if len(out) > budget:
            if self._max_size is not None and self._decoded > self._max_size:
                raise too_large(self._max_size, self._decoded, declared=False)
            raise DecodingError("decoded body larger than the decompression limit allows")
        return out

    def _ended_early(self, finished: bool) -> bytes:
        if not finished and self._encoded:
            raise DecodingError("compressed body ended early")
        return b""


class ZlibDecoder(_Bounded):
    """gzip or deflate."""

    __slots__ = ("_zlib",)

    def __init__(self, coding: bytes, max_ratio: int, max_size: int | None = None) -> None:
        super().__init__(max_ratio, max_size)
        # RFC 9110 §8.4.1.2: "deflate" is the zlib format (RFC 1950), not raw deflate.
        wbits = 16 + zlib.MAX_WBITS if coding == b"gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)

    def decode(self, data: bytes) -> bytes:
        budget = self._budget(data)
        try:
            # Asking for one byte more than the budget shows whether it would be exceeded.
            out = self._zlib.decompress(data, budget + 1)
        except zlib.error as exc:
            raise DecodingError(f"invalid compressed body: {exc}") from None
        return self._count(out, budget)

    def flush(self) -> bytes:
        return self._ended_early(self._zlib.eof)


class BrotliDecoder(_Bounded):
    """br (RFC 7932), through ``brotli`` or ``brotlicffi``."""

    __slots__ = ("_brotli", "_error")

    def __init__(self, module: ModuleType, max_ratio: int, max_size: int | None = None) -> None:
        super().__init__(max_ratio, max_size)
        self._brotli: Any = module.Decompressor()
        self._error: type[Exception] = module.error

    def decode(self, data: bytes) -> bytes:
        budget = self._budget(data)
        try:
            # The output stops growing at the limit: one byte more than the budget shows
            # whether it would be exceeded (and all the input was taken if not).
            out: bytes = self._brotli.process(data, output_buffer_limit=budget + 1)
        except self._error as exc:
            raise DecodingError(f"invalid compressed body: {exc}") from None
        return self._count(out, budget)

    def flush(self) -> bytes:
        return self._ended_early(self._brotli.is_finished())


class ZstdDecoder(_Bounded):
    """zstd (RFC 8878), through ``zstandard``; a body may hold several frames."""

    __slots__ = ("_context", "_error", "_frame", "_in_frame")

    def __init__(self, module: ModuleType, max_ratio: int, max_size: int | None = None) -> None:
        super().__init__(max_ratio, max_size)
        self._context: Any = module.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
        self._error: type[Exception] = module.ZstdError
        self._frame: Any = self._context.decompressobj()
        self._in_frame = False  # a frame has begun and not ended

    def decode(self, data: bytes) -> bytes:
        budget = self._budget(data)
        pieces = []
        decoded = start = 0
        while start < len(data):
            # zstandard cannot bound its output, but its input: feed no more than the
            # budget left can come from, so a bomb is caught before it takes memory.
            step = max(_ZSTD_MIN_STEP, (budget - decoded) // _ZSTD_MAX_EXPANSION)
            out = self._decompress(data[start : start + step])
            start += step
            pieces.append(out)
            decoded += len(out)
            if decoded > budget:
                break  # _count raises
            if self._frame.eof:  # the rest of the input starts a new frame
                data, start = self._frame.unused_data + data[start:], 0
                self._frame = self._context.decompressobj()
                self._in_frame = False
        return self._count(b"".join(pieces), budget)

    def _decompress(self, data: bytes) -> bytes:
        self._in_frame = True
        try:
            out: bytes = self._frame.decompress(data)
        except self._error as exc:
            raise DecodingError(f"invalid compressed body: {exc}") from None
        return out

    def flush(self) -> bytes:
        return self._ended_early(not self._in_frame)


Decoder = IdentityDecoder | ZlibDecoder | BrotliDecoder | ZstdDecoder


_IDENTITY = IdentityDecoder()  # stateless: one serves every response


def decoder_for(
    content_encoding: bytes | None, max_ratio: int, max_size: int | None = None
) -> Decoder:
    """A decoder for the response's Content-Encoding, its output bounded by ``max_ratio``
    and ``max_size`` (see the module's docstring); identity for none, or for one we
    cannot decode (then the body is handed over as received, and bounded by the
    response)."""
    if content_encoding is None:
        return _IDENTITY
    coding = content_encoding.strip().lower()
    if coding in (b"gzip", b"x-gzip"):
        return ZlibDecoder(b"gzip", max_ratio, max_size)
    if coding == b"deflate":
        return ZlibDecoder(b"deflate", max_ratio, max_size)
    if coding == b"br" and _BROTLI is not None:
        return BrotliDecoder(_BROTLI, max_ratio, max_size)
    if coding == b"zstd" and _ZSTANDARD is not None:
        return ZstdDecoder(_ZSTANDARD, max_ratio, max_size)
    return _IDENTITY
