"""Install what the benchmark needs (Debian: wrk, nginx, caddy) and describe the machine and versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Tools", "ensure_tools", "machine_info"]

PACKAGES = {"wrk": "wrk", "nginx": "nginx", "caddy": "caddy", "taskset": "util-linux"}
REQUIRED = ("wrk", "nginx", "taskset")


@dataclass
class Tools:
    paths: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.paths


def _run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def _candidate(package: str) -> str | None:
    out = _run(["apt-cache", "policy", package]).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            return None if value == "(none)" else value
    return None


def ensure_tools() -> Tools:
    """Find wrk/nginx/caddy; apt-get install the missing ones when root. Caddy is optional."""
    tools = Tools()
    missing = [name for name in PACKAGES if shutil.which(name) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = [PACKAGES[m] for m in missing]
        if any(_candidate(p) is None for p in packages):
            print("bench: apt-get update", flush=True)
            _run(["apt-get", "update", "-qq"])
        installable = [p for p in packages if _candidate(p) is not None]
        for p in sorted(set(packages) - set(installable)):
            tools.notes.append(f"Debian package `{p}` is not available (apt-cache policy: no candidate)")
        if installable:
            print(f"bench: apt-get install -y {' '.join(installable)}", flush=True)
            done = _run(["apt-get", "install", "-y", "-qq", *installable])
            if done.returncode != 0:
                tools.notes.append(f"apt-get install failed: {done.stderr.strip()[-300:]}")
    for name in PACKAGES:
        path = shutil.which(name)
        if path:
            tools.paths[name] = path
    absent = [n for n in REQUIRED if not tools.has(n)]
    if absent:
        raise SystemExit(f"bench: missing {', '.join(absent)} (install: apt-get install -y wrk nginx util-linux)")
    if not tools.has("caddy"):
        tools.notes.append("Caddy is not installed: the Caddy column is empty (apt-get install caddy)")
    return tools


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "n/a"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "n/a"


def _pkg(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "n/a"


def _krakenpy_version() -> str:
    try:
        import krakenpy

        return str(krakenpy.__version__)
    except ImportError:
        return "n/a"


def machine_info(tools: Tools, repo: Path) -> dict[str, str]:
    cpu = "n/a"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    os_name = "n/a"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    commit = _version(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    load1, load5, _ = os.getloadavg()
    return {
        "cpu": f"{cpu} × {os.cpu_count()}",
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": f"{os_name}, kernel {platform.release()}",
        "load average at start": f"{load1:.2f} / {load5:.2f} (1 / 5 min; the machine is shared)",
        "python": sys.version.split()[0],
        "krakenpy": f"{_krakenpy_version()} (git {commit}{', modified tree' if dirty else ''})",
        "aiohttp / orjson / uvloop / lupa": " / ".join(_pkg(p) for p in ("aiohttp", "orjson", "uvloop", "lupa")),
        "nginx": _version(["nginx", "-v"]),
        "caddy": _version(["caddy", "version"]) if tools.has("caddy") else "not installed",
        "wrk": _version(["wrk", "-v"]).split(" [")[0],
    }
