"""Where each count lives in a slot: the fixed layout every writer and reader shares.

A slot is one process's counts, as 8-byte words: unsigned integers (read through a
``memoryview`` cast to ``"Q"``) and, at the few indexes named so, floats (cast to
``"d"``). Every label set is a word of its own, at an index computed once, so that a
request is counted with no lookup by label string: ``ferry_requests_total`` is a table
of method rows (the standard methods, then ``other``) by status columns (100 to 599,
then ``other``), which bounds the label set whatever a client sends.

The words before ``GAUGES_END`` that are not counters (the owner's pid, the gauges) are
dropped when a worker's slot is retired (``_slots``); every other word is a counter,
folded into the retired totals.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BUCKETS",
    "CELLS",
    "CONNECTIONS",
    "DURATION_SUM",
    "ERRORS",
    "FIRST_REQUESTS",
    "FLOATS",
    "GAUGES_END",
    "HISTOGRAM",
    "IN_FLIGHT",
    "LOOP_LAG",
    "METHODS",
    "METHOD_LABELS",
    "METHOD_ROWS",
    "OPEN",
    "OTHER_ROW",
    "OTHER_STATUS",
    "PID",
    "PROTOCOL_ERRORS",
    "REQUEST_BYTES",
    "RESPONSE_BYTES",
    "SLOT_BYTES",
    "STATUS_COLUMNS",
    "STATUS_LABELS",
    "WORDS",
    "error_index",
    "status_column",
]

# RFC 9110 §9 and RFC 5789 (PATCH): the methods with a label of their own.
METHODS = (
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
)
METHOD_LABELS = (*(method.decode() for method in METHODS), "other")
STATUS_FIRST: Final = 100
OTHER_STATUS: Final = 500  # the column of a status outside 100-599
STATUS_COLUMNS: Final = OTHER_STATUS + 1
STATUS_LABELS = (*(str(code) for code in range(100, 600)), "other")
# The responses the server itself sends for a protocol error: the engine's status hints
# (RemoteProtocolError.status: 417 for an Expect it cannot meet too), and 408 for a
# request that did not arrive in time.
PROTOCOL_ERRORS = (400, 408, 413, 414, 417, 431, 501, 505)
# Upper bounds (seconds) of ferry_request_duration_seconds, from 0.5 ms: a hello world
# is answered in tens of microseconds, a database-backed page in tens of milliseconds.
BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# (The tuples and the dict are not Final: mypyc inlines only numbers and strings.)

# Word indexes.
PID: Final = 0  # the process writing the slot (not a counter)
IN_FLIGHT: Final = 1  # gauge: requests with a response not yet complete
OPEN: Final = 2  # gauge: open connections
LOOP_LAG: Final = 3  # gauge, a float: the event loop's last measured lag, seconds
GAUGES_END: Final = 4  # the words before this are dropped when a slot is retired
CONNECTIONS: Final = 4
FIRST_REQUESTS: Final = 5  # responses that were the first on their connection
REQUEST_BYTES: Final = 6
RESPONSE_BYTES: Final = 7
DURATION_SUM: Final = 8  # a float: the histogram's sum, seconds
ERRORS: Final = 9  # one word per PROTOCOL_ERRORS status
HISTOGRAM: Final = ERRORS + len(PROTOCOL_ERRORS)  # one per bucket, then +Inf (not cumulative)
CELLS: Final = HISTOGRAM + len(BUCKETS) + 1  # the method x status table, row by row
OTHER_ROW: Final = CELLS + len(METHODS) * STATUS_COLUMNS
WORDS: Final = CELLS + len(METHOD_LABELS) * STATUS_COLUMNS
FLOATS = (LOOP_LAG, DURATION_SUM)
# A slot is a whole number of pages: two workers never write to one cache line.
SLOT_BYTES: Final = -(-WORDS * 8 // 4096) * 4096

# method -> the index of its row's first cell (a bytes key: the request's own method).
METHOD_ROWS = {method: CELLS + row * STATUS_COLUMNS for row, method in enumerate(METHODS)}


def status_column(status: int) -> int:
    """The column of ``status`` in a row of the requests table."""
    column = status - STATUS_FIRST
    return column if 0 <= column < OTHER_STATUS else OTHER_STATUS


def error_index(status: int) -> int:
    """The word counting protocol errors answered with ``status``; -1 for another."""
    for offset, code in enumerate(PROTOCOL_ERRORS):
        if code == status:
            return ERRORS + offset
    return -1
