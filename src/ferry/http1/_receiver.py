"""What both roles of the engine do with the peer's bytes: buffer them, note the end of
input, and turn them into events according to the peer's state.

``ServerConnection`` and ``ClientConnection`` inherit this and supply the two readers
that differ by role: ``_next_head`` (a request or a response head) and
``_next_body_event``.
"""

from __future__ import annotations

from .._errors import RemoteProtocolError
from ._events import PAUSED, Event, Sentinel
from ._state import State, Step, advance

__all__ = ["Receiver"]


class Receiver:
    """The receiving half of an HTTP/1.1 connection (either role)."""

    __slots__ = ("_buf", "_eof", "keep_alive", "their_state")

    _buf: bytes  # received, not yet turned into events
    _eof: bool  # the peer closed its sending side
    their_state: State
    keep_alive: bool

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer."""
        self._buf = self._buf + data if self._buf else data

    def receive_eof(self) -> None:
        """The peer closed its sending side."""
        self._eof = True

    def next_event(self) -> Event | Sentinel:
        """The next event from the received bytes, NEED_DATA, or PAUSED when the peer's
        message is complete. Raises RemoteProtocolError for bytes that break RFC 9110 or
        RFC 9112 (the peer's state is then ERROR, and the connection is not reused)."""
        state = self.their_state
        try:
            if state is State.SEND_BODY:
                return self._next_body_event()
            if state is State.IDLE:
                return self._next_head()
        except RemoteProtocolError:
            self.their_state = advance(state, Step.FAIL)
            self.keep_alive = False
            raise
        if state is State.ERROR:
            raise RemoteProtocolError("the connection already failed")
        return PAUSED

    def _next_head(self) -> Event | Sentinel:
        raise NotImplementedError

    def _next_body_event(self) -> Event | Sentinel:
        raise NotImplementedError
