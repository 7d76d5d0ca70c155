"""Draw a results file as a PNG bar chart: one panel per scenario, Ferry highlighted.

Run with the interpreter of `.venv-bench`, which has matplotlib (Ferry's does not):
    .venv-bench/bin/python bench/chart.py bench/results/latest.json bench/results/latest.png
"""

import json
import sys
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

FERRY_COLOUR = "#d9480f"
PEER_COLOUR = "#868e96"
SCENARIO_TITLES = {
    "hello": ("hello world, keep-alive, 64 connections", "requests/s"),
    "pipeline": ("pipelined x16, 256 connections", "requests/s"),
    "memory": ("memory per idle keep-alive connection", "bytes"),
    "static-small": ("13-byte file, keep-alive, 64 connections", "requests/s"),
    "static-large": ("1 MiB file, keep-alive, 16 connections", "MiB/s"),
    "wsgi": ("WSGI hello world, keep-alive, 64 connections", "requests/s"),
    "websocket": ("WebSocket echo, 32 connections", "round trips/s"),
    "https-hello": ("hello world over TLS, keep-alive, 64 connections", "requests/s"),
    "https-static-large": ("1 MiB file over TLS, keep-alive, 16 connections", "MiB/s"),
    "https-handshakes": ("TLS, a new connection per request, 64 connections", "handshakes/s"),
    "metrics": ("hello, --metrics-port on and off", "requests/s"),
}
BYTES_SCENARIOS = ("static-large", "https-static-large")  # drawn in MiB/s


def runs(settings: dict[str, Any]) -> str:
    """The title's "median of 5 rounds of 3 s" ("10 s runs" for one round, or older files)."""
    rounds = settings.get("rounds", 1)
    if rounds == 1:
        return f"{settings['duration_s']} s runs"
    return f"median of {rounds} rounds of {settings['duration_s']} s"


def value_of(result: dict[str, Any]) -> float | None:
    """The number a bar shows: req/s for load runs (MiB/s for the 1 MiB file), bytes per
    connection for memory."""
    if result["load"] is not None:
        if result["scenario"] in BYTES_SCENARIOS:
            return float(result["load"]["bytes_per_s"]) / 2**20
        return float(result["load"]["requests_per_s"])
    if result["memory"] is not None:
        return float(result["memory"]["bytes_per_connection"])
    return None


def draw_panel(axes: Axes, scenario: str, results: list[dict[str, Any]]) -> None:
    title, unit = SCENARIO_TITLES.get(scenario, (scenario, ""))
    names = [result["server"] for result in results]
    values = [value_of(result) for result in results]
    colours = [FERRY_COLOUR if name.startswith("ferry") else PEER_COLOUR for name in names]
    bars = axes.bar(names, [value or 0.0 for value in values], color=colours)
    labels = ["failed" if value is None else f"{value:,.0f}" for value in values]
    axes.bar_label(bars, labels=labels, padding=2, fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(unit)
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.margins(y=0.15)
    if scenario == "memory":
        axes.axhline(2048, color=FERRY_COLOUR, linestyle="--", linewidth=1, label="target")
        axes.legend(fontsize=8)


def draw(document: dict[str, Any], output: Path) -> None:
    scenarios = list(dict.fromkeys(result["scenario"] for result in document["results"]))
    if not scenarios:
        raise SystemExit("no results to draw")
    # The Agg canvas directly, not pyplot: no global backend state, no display needed.
    figure = Figure(figsize=(4.5 * len(scenarios), 4))
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, len(scenarios), squeeze=False)[0]
    for axes, scenario in zip(panels, scenarios, strict=True):
        draw_panel(axes, scenario, [r for r in document["results"] if r["scenario"] == scenario])
    settings = document["settings"]
    figure.suptitle(
        f"Ferry vs peers, one core each — {document['timestamp']}, {runs(settings)}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(output, dpi=120)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    draw(json.loads(Path(argv[0]).read_text()), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
