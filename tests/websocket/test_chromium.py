"""The echo driven from headless Chromium: a page served by the same app opens a
WebSocket, sends a text message and writes the echo into the DOM that Chromium dumps."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("websockets")

from ..support import serving
from ._app import Seen, make_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium")
def test_echo_from_chromium(loop_name: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    with serving(make_app(Seen()), loop_name) as running:
        command = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path}",
            # No --virtual-time-budget: virtual time defers the WebSocket's events while a
            # fetch is pending. The page's load event (when the DOM is dumped) waits for an
            # iframe the app answers once the WebSocket has closed.
            "--dump-dom",
            f"http://127.0.0.1:{running.port}/",
        ]
        result = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert '<p id="out">echo:from chromium</p>' in result.stdout.decode(), result.stderr[-2000:]
