"""What both roles of the engine share: the two sides' states and keep-alive, and the
receiving half (buffer the peer's bytes, note the end of input, turn them into events
according to the peer's state).

``ServerConnection`` and ``ClientConnection`` inherit ``Connection`` and supply the two
readers that differ by role: ``_next_head`` (a request or a response head) and
``_next_body_event``.
"""

from __future__ import annotations

from .._errors import RemoteProtocolError
from ._events import PAUSED, Event, Sentinel
from ._state import State, Step, advance

__all__ = ["Connection"]


class Connection:
    """One HTTP/1.1 connection (either role): its state, and what the peer sent.

    ``our_state`` and ``their_state`` are the two sides' states (``_state.State``), and
    ``keep_alive`` whether the connection may be reused after the current exchange:
    read them; only the engine changes them (``_state.py`` says how).
    """

    __slots__ = ("_buf", "_eof", "_keep_alive", "our_state", "their_state")

    _buf: bytes  # received, not yet turned into events
    _eof: bool  # the peer closed its sending side
    our_state: State
    their_state: State
    _keep_alive: bool

    def __init__(self) -> None:
        self._buf = b""
        self._eof = False
        self.our_state = State.IDLE
        self.their_state = State.IDLE
        self._keep_alive = True

    @property
    def keep_alive(self) -> bool:
        """False once either side has said the connection ends after this exchange (or
        a protocol error or a protocol switch ended it). Never True again after that."""
        return self._keep_alive

    def _no_reuse(self) -> None:
        """The connection will not be reused after the current exchange (Step.NO_REUSE)."""
        self._keep_alive = False

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
            self._no_reuse()
            raise
        if state is State.ERROR:
            raise RemoteProtocolError("the connection already failed")
        return PAUSED

    def _next_head(self) -> Event | Sentinel:
        raise NotImplementedError

    def _next_body_event(self) -> Event | Sentinel:
        raise NotImplementedError
