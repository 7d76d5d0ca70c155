"""Ferry's TLS defaults as an independent scanner sees them: sslyze (a dev dependency)
scans a Ferry HTTPS server over 127.0.0.1 and checks it against Mozilla's
"intermediate" configuration (https://ssl-config.mozilla.org/), the profile for a
general-purpose server. The one departure is written in docs/tls.md and is the only
finding allowed here: the key exchange groups (see below)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from ..support import serving
from ..tls_support import Certificates
from .test_tls import scope_app, tls_options

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

# Python's ssl module sets one ECDH group or OpenSSL's whole default list, nothing in
# between (SSLContext.set_ecdh_curve). Ferry keeps the list, so X448 and P-521 stay
# offered beside Mozilla's X25519, P-256 and P-384: stronger groups, not listed by
# Mozilla, which a client only gets if it prefers them. docs/tls.md says why.
ALLOWED = {"tls_curves: TLS curves {'X448', 'secp521r1'} are supported, but should be rejected."}


def findings(output: str) -> set[str]:
    """The compliance findings of sslyze's report, with sets printed in sorted order."""
    _, found, report = output.partition("COMPLIANCE AGAINST TLS CONFIGURATION")
    assert found, output
    lines = set()
    for line in re.findall(r"^\s+\* (.+)$", report, re.MULTILINE):
        lines.add(
            re.sub(
                r"\{([^}]*)\}",
                lambda m: "{" + ", ".join(sorted(m[1].split(", "))) + "}",
                line.strip(),
            )
        )
    return lines


def test_sslyze_finds_ferry_compliant_with_mozilla_intermediate(
    certificates: Certificates,
) -> None:
    with serving(scope_app, "asyncio", **tls_options(certificates)) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sslyze",
                f"localhost:{server.port}{{127.0.0.1}}",
                "--certinfo_ca_file",
                str(certificates.ca),
                "--mozilla_config=intermediate",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert "SCANS COMPLETED" in output, output
    # What the scan saw, besides the verdict: no TLS 1.0/1.1 or SSL, no compression,
    # no insecure renegotiation, not vulnerable to the classic attacks.
    for line in (
        "SSL 2.0 Cipher Suites:",
        "SSL 3.0 Cipher Suites:",
        "TLS 1.0 Cipher Suites:",
        "TLS 1.1 Cipher Suites:",
    ):
        section = output.partition(line)[2].partition("*")[0]
        assert "rejected all cipher suites" in section, (line, section)
    assert "OK - Compression disabled" in output
    assert "Client Renegotiation DoS Attack:   OK - Not vulnerable" in output
    assert "OK - Not vulnerable to Heartbleed" in output
    assert "OK - Not vulnerable to OpenSSL CCS injection" in output
    assert "OK - Not vulnerable, RSA cipher suites not supported." in output  # ROBOT
    assert findings(output) == ALLOWED, output
