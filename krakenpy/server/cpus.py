"""How many CPUs this process may use: the default worker count.

``os.cpu_count()`` reports the host's CPUs; a container limited to 2 CPUs on a 64-core node would
fork 64 workers that fight over 2 CPUs' worth of time. The answer is the smallest of the CPU
affinity mask (``taskset``, cpusets) and the cgroup CPU quota (v2 ``cpu.max``, v1
``cpu.cfs_quota_us / cpu.cfs_period_us``), rounded up, at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["available_cpus", "cgroup_cpu_limit"]

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _own_cgroup(root: Path, proc_cgroup: Path, controller: str) -> list[Path]:
    """Candidate folders of this process's cgroup (most specific first), for v2 ("") or a v1 controller."""
    text = _read(proc_cgroup) or ""
    folders: list[Path] = []
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        if controller == "" and controllers == "":
            base = root
        elif controller and controller in controllers.split(","):
            base = next((root / d for d in (controllers, "cpu,cpuacct", "cpu") if (root / d).is_dir()), root / "cpu")
        else:
            continue
        group_path = base / group.lstrip("/")
        # inside a container the process's own group is usually mounted as the root
        folders.extend([group_path, base])
    return folders


def _v2_limit(folder: Path) -> float | None:
    text = _read(folder / "cpu.max")
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max":
        return None
    try:
        return int(quota) / int(period or "100000")
    except (ValueError, ZeroDivisionError):
        return None


def _v1_limit(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (``1.5``), or ``None`` when unlimited or unknown."""
    for folder in _own_cgroup(root, proc_cgroup, ""):
        limit = _v2_limit(folder)
        if limit is not None:
            return limit
    for folder in _own_cgroup(root, proc_cgroup, "cpu"):
        limit = _v1_limit(folder)
        if limit is not None:
            return limit
    return None


def available_cpus(root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """CPUs this process may use: affinity mask and cgroup quota (rounded up), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        count = min(count, max(1, math.ceil(limit)))
    return max(1, count)
