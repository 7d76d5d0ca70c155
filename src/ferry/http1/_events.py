"""Events the engine returns from ``next_event()``.

They are small slotted objects: one per request head, one per body piece, one at the end
of a message. The two sentinels say why there is no event now.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Fields",
    "Headers",
    "InformationalResponse",
    "Request",
    "Response",
    "Sentinel",
]

# Two names for header fields, one meaning each (the client's own header types, in
# ``ferry.client``, are built on ``Headers``):

Headers = list[tuple[bytes, bytes]]
"""Header fields as a list of (name, value) tuples of bytes, in order. What the engine
returns in events (names lower-cased, values with OWS stripped, RFC 9112 §5.1) and what
the client role sends (``ClientConnection.send_request``: names as given)."""

Fields = Sequence[Sequence[bytes]]
"""Header fields an application gives the server role to send: (name, value) pairs,
which ASGI allows to be lists as well as tuples. Validated as they are rendered."""


class Sentinel(enum.Enum):
    """Returned by ``next_event()`` instead of an event."""

    NEED_DATA = "NEED_DATA"
    """Feed more bytes with ``receive_data()`` (or end the input with ``receive_eof()``)."""
    PAUSED = "PAUSED"
    """This cycle is over on the peer's side; call ``start_next_cycle()`` to go on."""


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED


@dataclass(frozen=True, slots=True)
class Request:
    """A request head: the request line and its header fields (RFC 9112 §2.1).

    Read-only, and shared: the engine hands out the same Request for byte-identical
    heads, so its ``headers`` list must not be changed either (copy it first).
    """

    method: bytes
    target: bytes
    http_version: str  # "1.0" or "1.1": a higher 1.x minor is treated as 1.1 (RFC 9110 §2.5)
    headers: Headers
    # Derived from the target (RFC 9112 §3.2): the path and query as sent, without the
    # scheme and authority of an absolute-form target.
    path: bytes = b"/"
    query: bytes = b""
    # The authority this request is for: the absolute-form target's, else Host's.
    host: bytes = b""
    expect_continue: bool = False
    # The protocol a bodiless HTTP/1.1 GET asks to switch to (RFC 9110 §7.8), lower-cased,
    # when its Connection field lists "upgrade"; None otherwise.
    upgrade: bytes | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A final response head (client role)."""

    status: int
    reason: bytes
    http_version: str
    headers: Headers


@dataclass(slots=True)
class InformationalResponse:
    """A 1xx response head (client role)."""

    status: int
    reason: bytes
    http_version: str
    headers: Headers


@dataclass(slots=True)
class Data:
    """A piece of a message body, framing removed."""

    data: bytes


@dataclass(slots=True)
class EndOfMessage:
    """The body is complete; ``trailers`` holds a chunked message's trailer fields."""

    trailers: Headers = field(default_factory=list)


@dataclass(slots=True)
class ConnectionClosed:
    """The peer closed its side between messages (no partial message is pending)."""


Event = Request | Response | InformationalResponse | Data | EndOfMessage | ConnectionClosed
