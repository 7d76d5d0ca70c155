"""The deadlines a connection can be under: one kind at a time, each with its timeout.

``HTTPProtocol`` sets one (``deadline_kind``, until ``deadline``, the loop's clock) and
clears it; the server's ticker (``Server._tick``, every half second) calls
``HTTPProtocol.check_deadline``, which acts on an expired one as its kind says.
"""

from __future__ import annotations

import enum

__all__ = ["Deadline"]


class Deadline(enum.Enum):
    """What a connection is waiting for, against the clock. The value of a kind whose
    expiry is answered is the message of its 408."""

    NONE = "none"
    """No deadline: a request is being answered, or reading is paused (flow control)."""

    HEAD = "request head not received in time"
    """A request head (``head_timeout``): set when the connection opens and when a head's
    first piece arrives, not moved by later pieces (slowloris). Expired with part of a
    head received: 408; with nothing received: the connection is closed quietly."""

    IDLE = "idle"
    """The next request on a kept-alive connection (``keep_alive_timeout``). Expired:
    the connection is closed quietly."""

    BODY = "request body not received in time"
    """The request body the app is waiting for (``body_timeout``), set again as the app
    takes what came. Expired: 408."""
