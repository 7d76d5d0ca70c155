"""Ferry behind a real nginx (Debian's nginx-light), configured as docs/deployment.md
says: the app sees the client nginx saw, and the client cannot name another address or
scheme. nginx reaches Ferry from 127.0.0.2 (``proxy_bind``), the one address Ferry
trusts; the test's client connects from 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from ..client.nginx import PREAMBLE, TEMP_PATHS, running_nginx
from ..support import serving
from .test_haproxy import TRUSTED, through
from .test_proxy_protocol import echo

CONFIG = (
    PREAMBLE
    + """\
http {{
    access_log off;
"""
    + TEMP_PATHS
    + """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{ferry};
            proxy_bind 127.0.0.2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
)


def test_behind_nginx_the_app_sees_the_client_nginx_saw(tmp_path: Path) -> None:
    with (
        serving(echo, **TRUSTED) as ferry,
        running_nginx(tmp_path, CONFIG, ferry=ferry.port) as nginx,
    ):
        port = nginx.port
        seen, own = through(port)
        assert seen["client"] == [own[0], 0]
        assert seen["scheme"] == "http"
        spoofs = ("X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https")
        seen, own = through(port, *spoofs)
        assert seen["client"] == [own[0], 0]  # nginx's entry, right of the client's own
        assert seen["scheme"] == "http"  # set by nginx, not passed on
