"""The compiled accelerator (src/ferry/_accel.py): used only when its build matches the
sources and this Python, never with FERRY_PURE, and then for every hot module."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferry import _accel

REPORT = (
    "import ferry, ferry._accel as a, ferry.http1._request_head as h;"
    "print(a.active(), a.reason(), type(h.__loader__).__name__, sep='|')"
)


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "FERRY_PURE"} | env
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )
    return done.stdout.strip()


def test_ferry_pure_turns_it_off() -> None:
    assert run_python(REPORT, FERRY_PURE="1") == "False|off: FERRY_PURE is set|SourceFileLoader"


@pytest.mark.skipif(not _accel.MANIFEST.exists(), reason="the accelerator is not built here")
def test_a_current_build_is_used_for_every_hot_module() -> None:
    code = (
        "import sys, ferry, ferry._accel as a, importlib;"
        "[importlib.import_module(m) for m in a.MODULES];"
        "print(a.reason(), sorted({type(sys.modules[m].__loader__).__name__ "
        "for m in a.MODULES}), sep='|')"
    )
    assert run_python(code) == "on: compiled with mypyc|['ExtensionFileLoader']"


def _manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    modules = {
        m: {"file": m + suffix, "sha256": _accel.digest(_accel.source_of(m))}
        for m in _accel.MODULES
    }
    manifest: dict[str, object] = {
        "suffix": suffix,
        "modules": modules,
        "shared": {"module": "x__mypyc", "file": "x__mypyc" + suffix},
    }
    manifest.update(changes)
    for entry in [*modules.values(), manifest["shared"]]:
        (tmp_path / entry["file"]).write_bytes(b"")  # type: ignore[index]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(_accel, "BUILD", tmp_path)
    monkeypatch.setattr(_accel, "MANIFEST", tmp_path / "manifest.json")
    monkeypatch.delenv("FERRY_PURE", raising=False)


def test_a_complete_current_manifest_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _manifest(tmp_path, monkeypatch)
    files = _accel._check_build()
    assert isinstance(files, dict)
    assert sorted(files) == sorted([*_accel.MODULES, "x__mypyc"])


def test_a_build_of_changed_sources_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _manifest(tmp_path, monkeypatch)
    manifest = json.loads(_accel.MANIFEST.read_text())
    manifest["modules"]["ferry.http1._request_head"]["sha256"] = "0" * 64
    _accel.MANIFEST.write_text(json.dumps(manifest))
    assert _accel._check_build() == "off: _request_head.py changed since the build"


def test_a_build_for_another_python_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _manifest(tmp_path, monkeypatch, suffix=".cpython-99-x.so")
    assert _accel._check_build() == "off: built for another Python"


def test_a_build_with_a_missing_file_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _manifest(tmp_path, monkeypatch)
    next(tmp_path.glob("ferry.http1._body*")).unlink()
    assert _accel._check_build() == "off: a built file is missing"


def test_no_build_and_a_broken_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERRY_PURE", raising=False)
    monkeypatch.setattr(_accel, "MANIFEST", tmp_path / "manifest.json")
    assert _accel._check_build() == "off: not built (scripts/accelerate.py)"
    (tmp_path / "manifest.json").write_text("{not json")
    assert _accel._check_build() == "off: unreadable manifest"
    (tmp_path / "manifest.json").write_text(json.dumps({"suffix": _manifest_suffix()}))
    assert _accel._check_build() == "off: built for another module list"


def _manifest_suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]
