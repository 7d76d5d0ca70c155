"""Hypothesis: the path checks and the Range parser keep their promises for any input."""

from __future__ import annotations

import itertools
import os

from hypothesis import given
from hypothesis import strategies as st

from ferry.static._files import PathRefused, RequestPath, parse_request_path
from ferry.static._ranges import MAX_RANGES, Unsatisfiable, parse_range

# Bytes a request target may carry, weighted towards the ones that matter for traversal.
_PIECES = st.sampled_from(
    [b"/", b".", b"..", b"%2e", b"%2E", b"%2f", b"%5c", b"\\", b"%00", b"%c0%ae", b"%", b"a", b"~"]
)
targets = st.lists(st.one_of(_PIECES, st.binary(max_size=3)), max_size=12).map(b"".join)


def parse_or_status(raw: bytes, show_hidden: bool) -> RequestPath | int:
    try:
        return parse_request_path(raw, show_hidden=show_hidden)
    except PathRefused as refused:
        return refused.status


@given(targets, st.booleans())
def test_a_parsed_path_never_leaves_its_root(raw: bytes, show_hidden: bool) -> None:
    parsed = parse_or_status(raw, show_hidden)
    if isinstance(parsed, int):
        assert parsed in (400, 404)
        return
    root = "/srv/root"
    joined = os.path.normpath(os.path.join(root, *parsed.segments))
    assert joined == root or joined.startswith(root + "/")
    for segment in parsed.segments:
        assert segment not in ("", ".", "..")
        assert not {"/", "\\", "\x00"} & set(segment)
        assert show_hidden or not segment.startswith(".")


range_values = st.builds(
    lambda unit, specs: unit + "=" + ",".join(specs),
    st.sampled_from(["bytes", "BYTES", "items"]),
    st.lists(
        st.one_of(
            st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 300), st.integers(0, 300)),
            st.builds(lambda a: f"{a}-", st.integers(0, 300)),
            st.builds(lambda n: f"-{n}", st.integers(0, 300)),
            st.text("0123456789-, x", max_size=6),
        ),
        max_size=MAX_RANGES + 3,
    ),
)


@given(range_values, st.integers(0, 200))
def test_ranges_are_sorted_disjoint_and_inside_the_file(value: str, size: int) -> None:
    try:
        ranges = parse_range(value, size)
    except Unsatisfiable:
        return
    if ranges is None:
        return
    assert 1 <= len(ranges) <= MAX_RANGES
    for byte_range in ranges:
        assert 0 <= byte_range.start <= byte_range.end < size
    for before, after in itertools.pairwise(ranges):
        assert before.end + 1 < after.start  # merged when touching: never adjacent
    assert sum(r.length for r in ranges) <= size
