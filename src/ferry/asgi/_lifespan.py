"""The ASGI lifespan protocol, version 2.0: startup and shutdown around serving."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from .._errors import FerryError
from ._types import ASGIApp, Message

__all__ = ["Lifespan", "LifespanFailure"]

logger = logging.getLogger("ferry.error")


class LifespanFailure(FerryError):
    """The application reported (or raised) a failure during lifespan startup."""


class Lifespan:
    """Runs the app's lifespan task; ``state`` is shared into every request scope.

    Call order: ``await startup()``, serve, ``await shutdown()``. In mode "auto" an app
    that raises before answering startup is taken to not support lifespan.
    """

    def __init__(self, app: ASGIApp, mode: Literal["auto", "on", "off"]) -> None:
        self._app = app
        self._mode = mode
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def startup(self) -> None:
        """Send lifespan.startup and wait for its answer. Raises LifespanFailure."""
        if self._mode == "off":
            return
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.get_running_loop().create_task(self._run(scope))
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanFailure(answer.get("message") or "application startup failed")
        if answer["type"] == "ferry.lifespan.unsupported":
            return

    async def shutdown(self) -> None:
        """Send lifespan.shutdown and wait for its answer (errors are logged)."""
        if self._task is None or not self._supported or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        answer = await self._from_app.get()
        if answer["type"] == "lifespan.shutdown.failed":
            logger.error("application shutdown failed: %s", answer.get("message", ""))

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self._receive, self._send)
        except BaseException as exc:
            self._supported = False
            if self._mode == "on":
                logger.error("exception in lifespan protocol", exc_info=exc)
                await self._from_app.put({"type": "lifespan.startup.failed", "message": repr(exc)})
            else:
                logger.info("ASGI lifespan not supported by the application (%r)", exc)
                await self._from_app.put({"type": "ferry.lifespan.unsupported"})
            if not isinstance(exc, Exception):
                raise
        else:
            # The app returned: it handled lifespan (or ignored it) and is done with it.
            self._supported = False
            await self._from_app.put({"type": "ferry.lifespan.unsupported"})

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind not in {
            "lifespan.startup.complete",
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        }:
            raise FerryError(f"unexpected lifespan message type {kind!r}")
        await self._from_app.put(message)
