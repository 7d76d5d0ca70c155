"""ASGI 3 types (https://asgi.readthedocs.io/en/latest/specs/main.html), and the type of
Ferry's respond-now hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from ..http1 import Fields

__all__ = ["ASGIApp", "ImmediateResponse", "Message", "Receive", "RespondNow", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# An app's optional ``ferry_respond_now(scope)`` (see ServerState.respond_now, and
# StaticFiles.ferry_respond_now): the whole response to a bodiless request as (status,
# header fields, body), or None to call the app as usual; the body is bytes, or
# (fd, size) for a whole open file, which the server sends and closes.
ImmediateResponse: TypeAlias = "tuple[int, Fields, bytes | tuple[int, int]]"
RespondNow = Callable[[Scope], "ImmediateResponse | None"]
