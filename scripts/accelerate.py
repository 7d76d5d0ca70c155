"""Build Ferry's optional compiled accelerator: the modules in ferry._accel.MODULES,
compiled to C extensions by mypyc, into src/ferry/_compiled/ (see src/ferry/_accel.py).

    python scripts/accelerate.py           build (skipped when the build is current)
    python scripts/accelerate.py --clean   remove the build: Ferry runs as pure Python

It needs mypy (which ships mypyc) and a C compiler with the Python headers. Without
them it says so and exits 0: the accelerator is optional, and Ferry falls back to the
same code as Python. The build takes about a minute; it runs in a scratch copy of the
package, so the source tree only ever gains the finished files and their manifest.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "ferry"
sys.path.insert(0, str(PACKAGE.parent))

from ferry import _accel  # noqa: E402  (the module list and the manifest's format)

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
BUILD_TIMEOUT_S = 900


def current() -> bool:
    """Whether the existing build matches the sources and this Python."""
    try:
        return isinstance(_accel.check_build(), dict)
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def build() -> int:
    try:
        import mypyc  # noqa: F401
    except ImportError:
        print("accelerator: skipped (mypy/mypyc is not installed); Ferry runs as Python")
        return 0
    with tempfile.TemporaryDirectory(prefix="ferry-accel-") as scratch:
        work = Path(scratch)
        shutil.copytree(
            PACKAGE,
            work / "ferry",
            ignore=shutil.ignore_patterns("_compiled", "*.so", "__pycache__"),
        )
        files = [str(Path(*m.split(".")).with_suffix(".py")) for m in _accel.MODULES]
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *files],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            print("accelerator: build failed; Ferry runs as Python. mypyc said:")
            print((done.stdout + done.stderr)[-3000:])
            return 0
        shared = [p for p in work.glob(f"*__mypyc{SUFFIX}")]
        if len(shared) != 1:
            print("accelerator: build produced no shared library; Ferry runs as Python")
            return 0
        target = _accel.BUILD
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        modules = {}
        for module in _accel.MODULES:
            built = work.joinpath(*module.split(".")).with_suffix(SUFFIX)
            name = module + SUFFIX
            shutil.copy2(built, target / name)
            source = _accel.source_of(module)
            modules[module] = {"file": name, "sha256": _accel.digest(source)}
        shared_module = shared[0].name[: -len(SUFFIX)]
        shutil.copy2(shared[0], target / shared[0].name)
        manifest = {
            "suffix": SUFFIX,
            "modules": modules,
            "shared": {"module": shared_module, "file": shared[0].name},
        }
        # The manifest last: a build interrupted before it is never used.
        (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"accelerator: built {len(modules)} modules with mypyc into {target.relative_to(REPO)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true", help="remove the build")
    args = parser.parse_args()
    if args.clean:
        shutil.rmtree(_accel.BUILD, ignore_errors=True)
        print("accelerator: removed; Ferry runs as Python")
        return 0
    if current():
        print("accelerator: up to date")
        return 0
    return build()


if __name__ == "__main__":
    sys.exit(main())
