"""The example site and a 60-image page in headless Chromium, served by a real Ferry.

Chromium (Debian's ``chromium`` package, installed by ``.ci/run``) loads a page from Ferry
on 127.0.0.1, runs its scripts and timers (``--virtual-time-budget``), and prints the
resulting DOM (``--dump-dom``); the tests read that DOM. The server side is observed
through an ASGI wrapper that records every response the application starts: its path,
status, ``Server-Timing`` and the client's port (one port per TCP connection).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ferry.asgi import ASGIApp, Message, Receive, Scope, Send
from ferry.static import StaticFiles
from tests.support import serving
from tests.tls_support import Certificates

SITE = Path(__file__).resolve().parents[2] / "examples" / "site"
CHROMIUM = Path("/usr/bin/chromium")
# Required here: without the background-networking flags Chromium's own connections are
# refused on a closed network and it stalls; as root it needs --no-sandbox.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM_TIMEOUT_S = 60
IMAGE_COUNT = 60
CHROMIUM_CONNECTIONS_PER_HOST = 6

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs headless Chromium at /usr/bin/chromium (Debian package `chromium`)",
)


# -- the browser ------------------------------------------------------------------------


def render(url: str, profile: Path, *flags: str) -> Element:
    """Load ``url`` in a fresh headless Chromium (with ``flags`` too), run its timers,
    return the final DOM."""
    completed = subprocess.run(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            *flags,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=False,
    )
    stderr_tail = completed.stderr.decode(errors="replace")[-2000:]
    assert completed.returncode == 0, stderr_tail
    assert completed.stdout, f"Chromium printed no DOM: {stderr_tail}"
    return parse_dom(completed.stdout.decode())


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, cls: str | None = None) -> list[Element]:
        """Descendants with this tag (and, if given, this class), in document order."""
        found = []
        for child in self.children:
            if isinstance(child, Element):
                classes = child.attrs.get("class", "").split()
                if child.tag == tag and (cls is None or cls in classes):
                    found.append(child)
                found += child.find_all(tag, cls)
        return found

    def by_id(self, element_id: str) -> Element:
        matches = [e for e in self.find_all_elements() if e.attrs.get("id") == element_id]
        assert len(matches) == 1, f"{len(matches)} elements with id {element_id!r}"
        return matches[0]

    def find_all_elements(self) -> list[Element]:
        out = []
        for child in self.children:
            if isinstance(child, Element):
                out += [child, *child.find_all_elements()]
        return out


VOID_TAGS = frozenset({"meta", "link", "img", "br", "hr", "input", "source", "wbr"})


class _TreeBuilder(HTMLParser):
    """Chromium's serialised DOM is well formed: every non-void element is closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_dom(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- the server side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    client_port: int
    path: str
    status: int
    server_timing: str | None
    scheme: str = "http"


class Recording:
    """An ASGI wrapper that records each response ``app`` starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                fields = {bytes(n).lower(): bytes(v) for n, v in message.get("headers", [])}
                timing = fields.get(b"server-timing")
                self.exchanges.append(
                    Exchange(
                        scope["client"][1],
                        scope["path"],
                        message["status"],
                        None if timing is None else timing.decode("latin-1"),
                        scope["scheme"],
                    )
                )
            await send(message)

        await self.app(scope, receive, recording_send)

    def only(self, path: str) -> Exchange:
        matches = [e for e in self.exchanges if e.path == path]
        assert len(matches) == 1, f"{path} requested {len(matches)} times"
        return matches[0]


def server_timing_durations(value: str) -> dict[str, float]:
    """``head;dur=0.191, handler;dur=0.583`` → {"head": 0.191, "handler": 0.583}."""
    durations = {}
    for metric in value.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        for param in params:
            key, _, number = param.partition("=")
            if key == "dur":
                durations[name] = float(number)
    return durations


# -- the tests --------------------------------------------------------------------------


def test_welcome_page_draws_both_clocks(loop_name: str, tmp_path: Path) -> None:
    app = Recording(StaticFiles(SITE))
    with serving(app, loop_name) as running:
        dom = render(f"http://127.0.0.1:{running.port}/", tmp_path / "profile")
    page = app.only("/")
    assert page.status == 200
    assert page.server_timing is not None
    reported = server_timing_durations(page.server_timing)
    assert set(reported) == {"head", "handler"}

    timeline = dom.by_id("timeline")
    assert timeline.attrs.get("data-drawn") == "true", timeline.text()
    rows = {
        row.find_all("span", "label")[0].text(): (row.attrs["class"], row.attrs["data-duration-ms"])
        for row in timeline.find_all("div", "row")
    }
    # Navigation Timing: the browser's own phases of this very exchange.
    browser = {label: float(ms) for label, (cls, ms) in rows.items() if cls == "row browser"}
    assert browser["2-3 · request sent, waiting"] > 0
    assert browser["4-6 · response arrives"] >= 0
    assert "7 · page & subresources loaded" in browser
    # Server-Timing: the server's phases, exactly the durations the response reported.
    server = {label: float(ms) for label, (cls, ms) in rows.items() if cls == "row server"}
    assert server == {
        "3 · Ferry reads the head": pytest.approx(reported["head"], abs=1e-6),
        "4 · Ferry's handler": pytest.approx(reported["handler"], abs=1e-6),
    }
    assert "hidden" in dom.by_id("server-note").attrs  # no "no Server-Timing" warning
    # The style sheet and the logo came too.
    assert {("/style.css", 200), ("/ferry.svg", 200)} <= {(e.path, e.status) for e in app.exchanges}


def spki_pin(cert: Path) -> str:
    """The base64 SHA-256 of the certificate's public key (its SubjectPublicKeyInfo), as
    Chromium's --ignore-certificate-errors-spki-list takes it (and HPKP, RFC 7469 §2.4)."""
    public_key = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
        capture_output=True,
        check=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public_key,
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def test_welcome_page_over_https(
    loop_name: str, tmp_path: Path, certificates: Certificates
) -> None:
    """Chromium trusts exactly the test server's key (pinned, since its store lacks the
    test CA and a fresh profile cannot be given one); without the pin it refuses the
    certificate and prints no page at all."""
    app = Recording(StaticFiles(SITE))
    tls = {"ssl_certfile": str(certificates.cert), "ssl_keyfile": str(certificates.key)}
    pin = f"--ignore-certificate-errors-spki-list={spki_pin(certificates.cert)}"
    with serving(app, loop_name, **tls) as running:
        origin = f"https://127.0.0.1:{running.port}"
        dom = render(f"{origin}/", tmp_path / "profile", pin)
    assert {(e.path, e.status, e.scheme) for e in app.exchanges} >= {
        ("/", 200, "https"),
        ("/style.css", 200, "https"),
        ("/ferry.svg", 200, "https"),
    }
    timeline = dom.by_id("timeline")
    assert timeline.attrs.get("data-drawn") == "true", timeline.text()
    labels = [row.find_all("span", "label")[0].text() for row in timeline.find_all("div", "row")]
    assert labels.index("1 · connect") + 1 == labels.index("1 · TLS handshake")
    assert dom.by_id("transport").text() == "https: TLS, then http/1.1"
    tries = [code.text() for code in dom.find_all("code") if "data-try" in code.attrs]
    assert tries[0] == f"curl -I {origin}/style.css"


def test_directory_listing_renders(loop_name: str, tmp_path: Path) -> None:
    app = Recording(StaticFiles(SITE))
    with serving(app, loop_name) as running:
        dom = render(f"http://127.0.0.1:{running.port}/files/", tmp_path / "profile")
    assert app.only("/files/").status == 200
    assert [title.text() for title in dom.find_all("title")] == ["Index of /files/"]
    rows = dom.find_all("tbody")[0].find_all("tr")
    names = [row.find_all("td", "name")[0].text() for row in rows]
    links = [row.find_all("a")[0].attrs["href"] for row in rows]
    assert names == ["../", "images/", "data.json", "notes.txt"]
    assert links == names
    sizes = {name: row.find_all("td")[1].text() for name, row in zip(names, rows, strict=True)}
    for name in ("data.json", "notes.txt"):
        assert sizes[name] == f"{(SITE / 'files' / name).stat().st_size} B"


def test_sixty_images_over_keep_alive(loop_name: str, tmp_path: Path) -> None:
    root = tmp_path / "gallery"
    root.mkdir()
    write_gallery(root)
    app = Recording(StaticFiles(root))
    with serving(app, loop_name) as running:
        dom = render(f"http://127.0.0.1:{running.port}/", tmp_path / "profile")
    body = dom.find_all("body")[0]
    assert body.attrs.get("data-loaded") == str(IMAGE_COUNT), body.attrs
    assert body.attrs.get("data-failed") == "0"

    images = [e for e in app.exchanges if e.path.startswith("/img-")]
    assert sorted(e.path for e in images) == [image_name(i) for i in range(IMAGE_COUNT)]
    assert {e.status for e in images} == {200}
    assert app.only("/").status == 200
    assert len(app.exchanges) >= IMAGE_COUNT + 1
    # Keep-alive: 61 requests over at most the 6 connections Chromium opens to one host.
    connections = {e.client_port for e in app.exchanges}
    assert 1 <= len(connections) <= CHROMIUM_CONNECTIONS_PER_HOST, connections


def image_name(index: int) -> str:
    return f"/img-{index:02d}.png"


def write_gallery(root: Path) -> None:
    """index.html with IMAGE_COUNT <img> tags, each a distinct 1x1 PNG; the page marks
    ``<body data-loaded=N data-failed=M>`` once every image has loaded or failed."""
    tags = []
    for index in range(IMAGE_COUNT):
        (root / image_name(index).lstrip("/")).write_bytes(one_pixel_png(index))
        tags.append(
            f'<img src="{image_name(index).lstrip("/")}" width="8" height="8" alt=""'
            ' onload="settled(true)" onerror="settled(false)">'
        )
    script = f"""<script>
let loaded = 0, failed = 0;
function settled(ok) {{
  if (ok) loaded++; else failed++;
  if (loaded + failed === {IMAGE_COUNT}) {{
    document.body.dataset.loaded = loaded;
    document.body.dataset.failed = failed;
  }}
}}
</script>"""
    head = ["<!doctype html>", "<html><head><title>gallery</title>", script, "</head><body>"]
    page = "\n".join([*head, *tags, "</body></html>", ""])
    (root / "index.html").write_text(page)


def one_pixel_png(index: int) -> bytes:
    """A valid 1x1 RGB PNG whose colour depends on ``index``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = bytes([0, index * 4 % 256, 255 - index, 128])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )
