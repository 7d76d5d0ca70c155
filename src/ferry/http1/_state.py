"""The states of one side of an HTTP/1.1 connection, and every transition between them.

Two rules, as in h11: every state change lives in this table, and the table knows nothing
about which side (client or server) it describes. A connection (either role) holds two
of these, ``our_state`` and ``their_state``, and moves them only with the table: by
``advance``, or on the per-request path by the transitions below (``HEAD_SENT``,
``BODY_ENDED``, ``NEXT_CYCLE``), looked up once at import, where the state moved from
is certain.

Keep-alive is the connection's other piece of state: a flag, ``keep_alive``, that starts
True and only ever turns False within a connection: when either side says the
connection ends after the current exchange (RFC 9112 §9.3, §9.6; the rule that reads it
from a message is ``_framing.keep_alive``), on a protocol error (Step.FAIL) and on a
protocol switch (Step.SWITCH). Step.NO_REUSE records it in a side's state where that
matters: the client role moves a response it will not reuse from DONE to MUST_CLOSE;
the server role takes it (in SEND_BODY, which it leaves as it is) when it gives up
draining a request body too long to skip. The flag is changed only by
``Connection._no_reuse`` and is read-only outside the engine.
"""

from __future__ import annotations

import enum
from typing import Final

from .._errors import LocalProtocolError

__all__ = ["BODY_ENDED", "HEAD_SENT", "NEXT_CYCLE", "State", "Step", "advance"]


class State(enum.Enum):
    # Members are singletons: hash them by identity (Enum's own __hash__ is Python code,
    # and a transition is looked up several times per request).
    __hash__ = object.__hash__

    IDLE = "IDLE"  # between messages
    SEND_BODY = "SEND_BODY"  # the head is out; body pieces may follow
    DONE = "DONE"  # the message is complete
    MUST_CLOSE = "MUST_CLOSE"  # done, and the connection will not be reused
    CLOSED = "CLOSED"  # this side closed the connection
    ERROR = "ERROR"  # a protocol error happened; nothing more can be sent or read
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"  # after a 101: the bytes are another protocol's


class Step(enum.Enum):
    __hash__ = object.__hash__

    HEAD = "HEAD"  # a request or final response head
    END = "END"  # the end of the body
    NEXT_CYCLE = "NEXT_CYCLE"  # both sides done and the connection is kept alive
    NO_REUSE = "NO_REUSE"  # the connection will close after this message
    CLOSE = "CLOSE"  # the peer (or we) closed the connection
    FAIL = "FAIL"  # a protocol error
    SWITCH = "SWITCH"  # a 101 Switching Protocols answered an Upgrade request


_TABLE: dict[tuple[State, Step], State] = {
    (State.IDLE, Step.HEAD): State.SEND_BODY,
    (State.SEND_BODY, Step.END): State.DONE,
    (State.DONE, Step.NEXT_CYCLE): State.IDLE,
    (State.DONE, Step.NO_REUSE): State.MUST_CLOSE,
    (State.IDLE, Step.NO_REUSE): State.IDLE,
    (State.SEND_BODY, Step.NO_REUSE): State.SEND_BODY,
    (State.MUST_CLOSE, Step.NO_REUSE): State.MUST_CLOSE,
    # RFC 9110 §7.8: after the 101 the connection speaks the new protocol - from the
    # server's side at once (nothing of its own was sent yet), from the client's side
    # once its request (with no body) is complete.
    (State.IDLE, Step.SWITCH): State.SWITCHED_PROTOCOL,
    (State.DONE, Step.SWITCH): State.SWITCHED_PROTOCOL,
}


# From any state, a protocol error leads to ERROR and a close to CLOSED.
for _state in State:
    _TABLE[_state, Step.FAIL] = State.ERROR
    _TABLE[_state, Step.CLOSE] = State.CLOSED


def advance(state: State, step: Step) -> State:
    """The state after ``step``; LocalProtocolError if ``step`` is not allowed now."""
    try:
        return _TABLE[state, step]
    except KeyError:
        raise LocalProtocolError(f"cannot {step.value} in state {state.value}") from None


# The transitions of every exchange, looked up in the table once, at import: where the
# engine uses one, the state it moves from is certain (a guard or the caller's state
# checked it), so the per-request path spends no call on ``advance``.
HEAD_SENT: Final = advance(State.IDLE, Step.HEAD)  # IDLE -> SEND_BODY
BODY_ENDED: Final = advance(State.SEND_BODY, Step.END)  # SEND_BODY -> DONE
NEXT_CYCLE: Final = advance(State.DONE, Step.NEXT_CYCLE)  # DONE -> IDLE
