"""Process metrics read at scrape time from ``/proc/self`` (Prometheus client names), and the
Python counterparts of Go's runtime metrics (``go_metrics`` → ``python_gc_*``, ``python_info``)."""

from __future__ import annotations

import gc
import os
import platform
import resource
import time
from typing import Final

__all__ = ["process_text", "python_text"]

_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE: Final = resource.getpagesize()


def _boot_time() -> float:
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_BOOT: Final = _boot_time()


def _stat() -> tuple[float, float, float] | None:
    """(cpu seconds, start time, virtual bytes) from /proc/self/stat."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])
    start = _BOOT + int(fields[19]) / _TICKS
    return (utime + stime) / _TICKS, start, float(fields[20])


def process_text() -> str:
    """``process_*`` families in Prometheus text format."""
    lines: list[str] = []

    def add(name: str, kind: str, help_: str, value: float) -> None:
        lines.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n{name} {value!r}\n")

    stat = _stat()
    if stat is not None:
        cpu, start, vsize = stat
        add("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu)
        add("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", start)
        add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize)
    else:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        add("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
            usage.ru_utime + usage.ru_stime)  # fmt: skip
    try:
        with open("/proc/self/statm", "rb") as f:
            rss = int(f.read().split()[1]) * _PAGE
        add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float(rss))
    except OSError:
        pass
    try:
        add("process_open_fds", "gauge", "Number of open file descriptors.", float(len(os.listdir("/proc/self/fd"))))
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    add("process_max_fds", "gauge", "Maximum number of open file descriptors.", float(soft))
    return "".join(lines)


def python_text() -> str:
    """``python_gc_*`` and ``python_info`` (what ``go_metrics`` asks for, in Python's terms)."""
    lines = [
        "# HELP python_gc_objects_collected_total Objects collected during gc\n",
        "# TYPE python_gc_objects_collected_total counter\n",
    ]
    stats = gc.get_stats()
    for gen, s in enumerate(stats):
        lines.append(f'python_gc_objects_collected_total{{generation="{gen}"}} {float(s["collected"])!r}\n')
    lines.append("# HELP python_gc_collections_total Number of times this generation was collected\n")
    lines.append("# TYPE python_gc_collections_total counter\n")
    for gen, s in enumerate(stats):
        lines.append(f'python_gc_collections_total{{generation="{gen}"}} {float(s["collections"])!r}\n')
    major, minor, patch = platform.python_version_tuple()
    lines.append("# HELP python_info Python platform information\n# TYPE python_info gauge\n")
    lines.append(
        f'python_info{{implementation="{platform.python_implementation()}",major="{major}",'
        f'minor="{minor}",patchlevel="{patch}",version="{platform.python_version()}"}} 1.0\n'
    )
    return "".join(lines)


def uptime() -> float:
    """Seconds since the process started (best effort)."""
    stat = _stat()
    return time.time() - stat[1] if stat is not None else 0.0
