"""Apps for the worker tests: each answers with the pid of the process that served it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any


def say(text: str) -> None:
    """A line to stderr in one write: the lines of several processes meet there."""
    os.write(sys.stderr.fileno(), f"{text}\n".encode())


say(f"apps imported in {os.getpid()}")


async def pid(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/block":
        block_the_loop()
    elif scope["path"] == "/slow":
        say(f"slow request started in {os.getpid()}")
        await asyncio.sleep(1.0)
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def block_the_loop() -> None:
    time.sleep(60)  # a synchronous call in an async app: the loop stops turning


async def failing_startup(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
