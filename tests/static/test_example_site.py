"""The example site ``make run`` serves: it loads, lists, and needs nothing from elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ferry.static import app_for_directory
from tests.support import serving

from ._http import request

SITE = Path(__file__).resolve().parents[2] / "examples" / "site"


def test_welcome_page_and_its_resources(loop_name: str) -> None:
    with serving(app_for_directory(SITE), loop_name) as running:
        page = request(running.port, "/")
        assert page.status == 200
        assert page.header("content-type") == "text/html; charset=utf-8"
        assert page.body == (SITE / "index.html").read_bytes()
        assert page.server_timing is not None  # what the page's timeline draws
        for link in re.findall(rb'(?:src|href)="([^"#]+)"', page.body):
            assert not link.startswith((b"http:", b"https:", b"//")), link
            assert request(running.port, "/" + link.decode()).status == 200, link
        listing = request(running.port, "/files/", headers={"Accept": "application/json"})
        names = [entry["name"] for entry in json.loads(listing.body)["entries"]]
        assert names == ["images", "data.json", "notes.txt"]


def test_welcome_page_reads_both_clocks() -> None:
    page = (SITE / "index.html").read_text()
    assert 'performance.getEntriesByType("navigation")' in page
    assert "nav.serverTiming" in page
