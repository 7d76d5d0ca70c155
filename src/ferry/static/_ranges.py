"""Range requests (RFC 9110 §14): parsing, coalescing, and multipart/byteranges framing.

Choices, each allowed by §14.2:

- A Range we can't parse, or one asking for more than ``MAX_RANGES`` ranges, is ignored:
  the client gets the whole file with 200, which costs no more than it asked for.
- Ranges that overlap or touch are merged, and ranges are sent in ascending order, so the
  bytes sent never exceed the file's size plus the part headers of at most
  ``MAX_RANGES`` parts: no amplification.
- One range left after merging is sent as a plain 206, not a one-part multipart body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_RANGES",
    "ByteRange",
    "Multipart",
    "Unsatisfiable",
    "content_range",
    "parse_range",
    "plan_multipart",
]

MAX_RANGES = 16

_SPEC = re.compile(r"(\d*)-(\d*)")


class Unsatisfiable(Exception):
    """No range of a valid Range header overlaps the file (→ 416)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive, as in Content-Range."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(value: str, size: int) -> list[ByteRange] | None:
    """The ranges a Range field value asks of a file of ``size`` bytes, merged and sorted.

    Returns None when the field is to be ignored (other unit, bad syntax, too many ranges).
    Raises Unsatisfiable when it is valid but no range overlaps the file.
    """
    unit, eq, range_set = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]  # RFC 9110 §5.6.1: empty list elements
    if not specs or len(specs) > MAX_RANGES:
        return None
    ranges = []
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        try:
            byte_range = _satisfiable(match[1], match[2], size)
        except ValueError:
            return None
        if byte_range is not None:
            ranges.append(byte_range)
    if not ranges:
        raise Unsatisfiable
    return _coalesce(ranges)


def _satisfiable(first: str, last: str, size: int) -> ByteRange | None:
    """One range-spec against the file: the range, None if it lies outside. Raises
    ValueError for an invalid spec (RFC 9110 §14.1.1)."""
    if first:
        start = int(first)
        end = size - 1
        if last:
            if int(last) < start:
                raise ValueError("last-pos before first-pos")
            end = min(int(last), end)
        return ByteRange(start, end) if start < size else None
    if not last:
        raise ValueError("neither first-pos nor suffix-length")
    suffix = int(last)  # suffix-range: the last `suffix` bytes
    return ByteRange(max(size - suffix, 0), size - 1) if suffix > 0 and size > 0 else None


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    ranges.sort(key=lambda r: r.start)
    merged = [ranges[0]]
    for byte_range in ranges[1:]:
        last = merged[-1]
        if byte_range.start <= last.end + 1:
            merged[-1] = ByteRange(last.start, max(last.end, byte_range.end))
        else:
            merged.append(byte_range)
    return merged


def content_range(byte_range: ByteRange, size: int) -> str:
    """The Content-Range value for one range (RFC 9110 §14.4)."""
    return f"bytes {byte_range.start}-{byte_range.end}/{size}"


@dataclass(frozen=True, slots=True)
class Multipart:
    """A multipart/byteranges body (RFC 9110 §14.6): for each range, the part's head
    (boundary line and fields) then the file's bytes; ``closing`` after the last one."""

    content_type: str
    parts: list[tuple[bytes, ByteRange]]
    closing: bytes

    @property
    def content_length(self) -> int:
        total = len(self.closing)
        for head, byte_range in self.parts:
            total += len(head) + byte_range.length
        return total


def plan_multipart(ranges: list[ByteRange], size: int, part_type: str, boundary: str) -> Multipart:
    """Frame ``ranges`` of a file of ``size`` bytes whose own type is ``part_type``."""
    parts = []
    for index, byte_range in enumerate(ranges):
        # Each part's delimiter begins with the CRLF that ends the previous part's data.
        head = (
            ("\r\n" if index else "")
            + f"--{boundary}\r\nContent-Type: {part_type}\r\n"
            + f"Content-Range: {content_range(byte_range, size)}\r\n\r\n"
        )
        parts.append((head.encode("latin-1"), byte_range))
    return Multipart(
        content_type=f"multipart/byteranges; boundary={boundary}",
        parts=parts,
        closing=f"\r\n--{boundary}--\r\n".encode("latin-1"),
    )
