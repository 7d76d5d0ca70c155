"""The listen backlog at shutdown: serve the connections the kernel has already queued.

Closing a listening socket resets every connection in its accept queue: clients that
connected, and often sent their request, before the server could accept them. So the
server first stops new connections from completing, accepts what is queued, and only
then closes (``Server._take_backlog``), with these steps:

1. ``seal``: a TCP listener gets a classic BPF socket filter (``SO_ATTACH_FILTER``, Linux)
   that drops segments with SYN set and ACK clear: no new handshake starts, while the
   final ACK of a handshake in flight still passes. A client whose SYN is dropped sends
   it again, and is refused once the port closes: a clean answer, not a lost request.
   A UNIX socket's path is removed: from then on ``connect()`` fails.
2. ``handshakes_in_flight``: handshakes the kernel answered before the filter (SYN_RECV)
   complete into the queue later; the server waits for them (``/proc/net/tcp``, bounded).
3. ``accept_queued``: accept until EAGAIN, on a duplicate of the listening descriptor (so
   it works whatever owns the original, asyncio or uvloop), and serve what it returns.

After step 2 found nothing in flight, nothing can join the queue, so step 3 empties it for
good: the hand-over is exact. Where the filter is not available (not Linux), the queue is
still accepted until EAGAIN before the close; a connection completing in the instant
between the two is then reset, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import stat
import struct
import sys

__all__ = [
    "HANDSHAKE_POLL",
    "HANDSHAKE_WAIT",
    "accept_queued",
    "handshakes_in_flight",
    "release",
    "seal",
]

# Step 2's bounds, for whoever seals (Server._take_backlog, and with workers the main
# process, Supervisor._seal): the kernel tells of no SYN_RECV ending, so it is looked at.
HANDSHAKE_WAIT = 2.0  # seconds, at most
HANDSHAKE_POLL = 0.005  # seconds between two looks

_SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; the socket module does not name them
_SO_DETACH_FILTER = 27
_SYN_RECV = "03"  # the state column of /proc/net/tcp (include/net/tcp_states.h)

# The filter: A = TCP flags byte (offset 13 of the TCP header, where a socket filter's
# data starts); if (A & (SYN|ACK)) == SYN drop the segment, else keep it whole.
_BPF_LD_B_ABS, _BPF_ALU_AND_K, _BPF_JEQ_K, _BPF_RET_K = 0x30, 0x54, 0x15, 0x06
_DROP_SYN = (
    (_BPF_LD_B_ABS, 0, 0, 13),
    (_BPF_ALU_AND_K, 0, 0, 0x12),
    (_BPF_JEQ_K, 0, 1, 0x02),
    (_BPF_RET_K, 0, 0, 0),
    (_BPF_RET_K, 0, 0, 0xFFFFFFFF),
)


def seal(sock: socket.socket, uds: str | None) -> bool:
    """Stop new connections to the listener ``sock`` from completing (see the module's
    docstring); ``uds`` is the path of a UNIX socket Ferry made. True if sealed: then
    ``handshakes_in_flight`` says when the accept queue can grow no more."""
    if sock.family == socket.AF_UNIX:
        if uds is None:
            return False  # a descriptor passed in: its path, if any, is not ours
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(uds).st_mode):
                os.unlink(uds)
                return True
        return False
    if not sys.platform.startswith("linux"):
        return False
    code = b"".join(struct.pack("HBBI", *insn) for insn in _DROP_SYN)
    program = ctypes.create_string_buffer(code)
    fprog = struct.pack("HP", len(_DROP_SYN), ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def release(sock: socket.socket) -> None:
    """Take the filter off a listener that may outlive this process (a descriptor passed
    in, which its owner may hand to the next server), before closing ours."""
    if sock.family != socket.AF_UNIX:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)


def handshakes_in_flight(sock: socket.socket) -> int:
    """How many handshakes to the listener's port are half done (SYN_RECV): they may
    still complete into its accept queue. 0 for a UNIX socket (connect() queues at once)
    and where ``/proc/net/tcp`` cannot be read."""
    if sock.family == socket.AF_UNIX:
        return 0
    port = f"{sock.getsockname()[1]:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)  # the column names
                for row in rows:
                    # "sl local_address rem_address st ...", an address being HEX:PORT
                    fields = row.split(None, 4)
                    if fields[3] == _SYN_RECV and fields[1].endswith(":" + port):
                        count += 1
        except OSError:
            continue
    return count


def accept_queued(sock: socket.socket) -> list[socket.socket]:
    """Accept every connection queued on the listener ``sock`` (non-blocking: until
    EAGAIN), and return them."""
    sock.setblocking(False)
    accepted: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except InterruptedError:
            continue
        except OSError:  # EAGAIN: the queue is empty (or EMFILE: no more can be taken)
            return accepted
        accepted.append(conn)
