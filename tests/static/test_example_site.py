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


def test_make_run_serves_the_site() -> None:
    """``make run``'s recipe is ``ferry serve examples/site``: run as written (from the
    repository, on a free port), it answers / with the welcome page."""
    from tests.server._helpers import REPO, ferry_process, free_port, tcp_connector

    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n")[1].strip()
    command = recipe.replace("$(PORT)", "PORT").split()
    assert command[:3] == ["$(BIN)/ferry", "serve", "examples/site"], recipe
    port = free_port()
    args = [*command[2:-2], "--port", str(port)]  # ferry_process runs python -m ferry
    with ferry_process(args) as ferry:
        ferry.wait_ready(tcp_connector(port))
        page = request(port, "/")
    assert page.status == 200
    assert page.body == (SITE / "index.html").read_bytes()
