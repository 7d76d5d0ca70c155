from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ..server._helpers import captured_log
from ..support import FIXED_TIME


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every in-process response carries FIXED_DATE, so whole heads compare exactly."""
    monkeypatch.setattr("ferry.http1._date.clock", lambda: FIXED_TIME)


@pytest.fixture
def error_log() -> Iterator[list[logging.LogRecord]]:
    """What the server logs to ``ferry.error`` during the test."""
    with captured_log("ferry.error") as records:
        yield records
