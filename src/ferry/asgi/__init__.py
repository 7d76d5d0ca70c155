"""The ASGI 3 adapter: request cycles, lifespan, application loading."""

from __future__ import annotations

from ._lifespan import Lifespan, LifespanFailure
from ._loader import import_app
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "Lifespan",
    "LifespanFailure",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "import_app",
]
