"""Pipelined responses written as one."""

from __future__ import annotations

from typing import Final

_BATCH_BYTES: Final = 65536  # pipelined responses held back for one write, at most
