"""ASGI 2 (double callable) applications, run as ASGI 3 ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._types import Receive, Scope, Send

__all__ = ["ASGI2Adapter"]


class ASGI2Adapter:
    """An ASGI 2 (double callable) application as an ASGI 3 one."""

    def __init__(self, app: Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)
