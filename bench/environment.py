"""What the harness needs around it: wrk, nginx and taskset from Debian, the peers'
virtual environment `.venv-bench`, two CPU cores, and a record of versions and machine.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import loadgen
import servers

BENCH_VENV = servers.REPO_ROOT / ".venv-bench"
BENCH_PYTHON = BENCH_VENV / "bin" / "python"
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
# Tool -> the Debian package that provides it.
APT_PACKAGES = {"wrk": "wrk", "nginx": "nginx-light", "taskset": "util-linux"}
REQUIRED_TOOLS = ("wrk", "taskset")
INSTALL_TIMEOUT_S = 900


class SetupError(Exception):
    """The benchmark cannot run here (a tool is missing, too few cores...)."""


def find_tool(tool: str) -> str | None:
    """Return the tool's path, also looking in the sbin directories (for nginx)."""
    if tool == "nginx":
        path = servers.nginx_executable()
        return path if os.path.isabs(path) else None
    return shutil.which(tool)


def ensure_system_tools(install: bool) -> None:
    """Install missing wrk/nginx/taskset with apt-get when allowed and root.

    Raises `SetupError` if wrk or taskset is still missing; a missing nginx only
    makes nginx fail to start, which is reported like any other failing server.
    """
    missing = [tool for tool in APT_PACKAGES if find_tool(tool) is None]
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        apt_install([APT_PACKAGES[tool] for tool in missing])
        missing = [tool for tool in missing if find_tool(tool) is None]
    if not missing:
        return
    packages = " ".join(APT_PACKAGES[tool] for tool in missing)
    advice = f"missing {', '.join(missing)}: run `sudo apt-get install -y {packages}`"
    if any(tool in REQUIRED_TOOLS for tool in missing):
        raise SetupError(advice)
    print(f"warning: {advice}; nginx will be reported as failing", file=sys.stderr)


def apt_install(packages: list[str]) -> None:
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        subprocess.run(command, env=env, check=True, timeout=INSTALL_TIMEOUT_S)


def ensure_bench_venv() -> None:
    """Create `.venv-bench` if needed and install bench/requirements.txt into it."""
    if not BENCH_PYTHON.exists():
        print(f"creating {BENCH_VENV.name}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    print(f"installing the peers into {BENCH_VENV.name} (bench/requirements.txt)", flush=True)
    subprocess.run(
        [str(BENCH_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )


def pin_harness_to_load_core() -> None:
    """Pin this process to the load core, so the server's core is left to the server.

    Raises `SetupError` unless both the server core and the load core are available.
    """
    wanted = {int(servers.SERVER_CORE), int(loadgen.LOAD_CORE)}
    available = os.sched_getaffinity(0)
    if not wanted <= available:
        raise SetupError(f"needs CPU cores {sorted(wanted)}, this process may use {available}")
    os.sched_setaffinity(0, {int(loadgen.LOAD_CORE)})


def describe_machine() -> dict[str, str]:
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "harness_python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_versions() -> dict[str, dict[str, str] | str]:
    """Versions of everything measured, for reading old results files later."""
    return {
        "ferry_venv": package_versions(servers.FERRY_PYTHON, ["ferry", "uvloop", "websockets"]),
        "bench_venv": package_versions(
            BENCH_PYTHON,
            [
                "uvicorn",
                "httptools",
                "uvloop",
                "granian",
                "gunicorn",
                "websockets",
                "matplotlib",
                "aiohttp",
                "httpx",
                "urllib3",
                "requests",
            ],
        ),
        "nginx": _first_line([servers.nginx_executable(), "-v"]),
        "wrk": _first_line(["wrk", "-v"]),
    }


def package_versions(python: Path, names: list[str]) -> dict[str, str]:
    """Ask `python` for the installed versions of `names` ("absent" if not installed)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def version(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'absent'\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n"
    )
    try:
        completed = subprocess.run(
            [str(python), "-c", script, *names], capture_output=True, text=True, timeout=60
        )
        versions: dict[str, str] = json.loads(completed.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {name: "unknown" for name in names}
    return versions


def _first_line(command: list[str]) -> str:
    """First line a `--version`-style command prints (nginx and wrk use stderr)."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    output = (completed.stdout + completed.stderr).strip()
    return output.splitlines()[0] if output else "unknown"
