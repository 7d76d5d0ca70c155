"""Ferry's sans-IO HTTP/1.1 engine (RFC 9110, RFC 9112).

It imports no asyncio, socket or ssl: it turns bytes into events and calls into bytes,
and the server (or client) does the I/O.
"""

from __future__ import annotations

from ._client import ClientConnection
from ._events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Fields,
    Headers,
    InformationalResponse,
    Request,
    Response,
    Sentinel,
)
from ._limits import Limits
from ._render import ResponseSettings
from ._server import ServerConnection
from ._state import State
from ._status import reason_phrase, status_line

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ClientConnection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Fields",
    "Headers",
    "InformationalResponse",
    "Limits",
    "Request",
    "Response",
    "ResponseSettings",
    "Sentinel",
    "ServerConnection",
    "State",
    "reason_phrase",
    "status_line",
]
