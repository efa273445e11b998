"""Process metrics read at scrape time from ``/proc/self`` (Prometheus client names), and the
Python counterparts of Go's runtime metrics (``go_metrics`` → ``python_gc_*``, ``python_info``)."""

from __future__ import annotations

import gc
import os
import platform
import resource
import time
from typing import Final

__all__ = ["INLINE", "process_text", "python_text"]

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


def _stat(proc: str = "/proc/self") -> tuple[float, float, float] | None:
    """(cpu seconds, start time, virtual bytes) from /proc/<pid>/stat."""
    try:
        with open(f"{proc}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])
    start = _BOOT + int(fields[19]) / _TICKS
    return (utime + stime) / _TICKS, start, float(fields[20])


_CPU: Final = ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
_START: Final = ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
_VSIZE: Final = ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
_RSS: Final = ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
_FDS: Final = ("process_open_fds", "gauge", "Number of open file descriptors.")
_MAX_FDS: Final = ("process_max_fds", "gauge", "Maximum number of open file descriptors.")


def _sized_fd_dirs() -> bool:
    """Whether this kernel gives a process's open descriptors as the size of ``/proc/PID/fd``."""
    try:
        return os.stat("/proc/self/fd").st_size > 0
    except OSError:
        return False


#: the procfs reads of a scrape are then a few small files, fast enough for the event loop (no
#: thread, whose start would put the whole process on glibc's multi-threaded paths for good)
INLINE: Final = _sized_fd_dirs()


def _samples(proc: str) -> dict[tuple[str, str, str], float]:
    """The ``process_*`` values of the process whose procfs directory is ``proc``."""
    out: dict[tuple[str, str, str], float] = {}
    stat = _stat(proc)
    if stat is not None:
        out[_CPU], out[_START], out[_VSIZE] = stat
    elif proc == "/proc/self":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out[_CPU] = usage.ru_utime + usage.ru_stime
    try:
        with open(f"{proc}/statm", "rb") as f:
            out[_RSS] = float(int(f.read().split()[1]) * _PAGE)
    except OSError:
        pass
    try:
        # Linux 6.2+ gives the count as the directory's size: no listing (which with 10,000 client
        # connections takes milliseconds); 0 on older kernels
        fds = os.stat(f"{proc}/fd").st_size or len(os.listdir(f"{proc}/fd"))
        out[_FDS] = float(fds)
    except OSError:
        pass
    # every worker inherits the supervisor's limit (raised once before the first fork): this one's
    out[_MAX_FDS] = float(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    return out


def process_text(pids: list[int] | None = None) -> str:
    """``process_*`` families in Prometheus text format: this process's, or (``run -w N``) one series
    per live worker in ``pids`` with a ``pid`` label (a worker that exited meanwhile has none)."""
    if pids is None:
        return "".join(
            f"# HELP {name} {help_}\n# TYPE {name} {kind}\n{name} {value!r}\n"
            for (name, kind, help_), value in _samples("/proc/self").items()
        )
    per_pid = [(pid, _samples(f"/proc/{pid}")) for pid in pids]
    lines: list[str] = []
    for family in (_CPU, _START, _VSIZE, _RSS, _FDS, _MAX_FDS):
        found = [(pid, samples[family]) for pid, samples in per_pid if family in samples and _CPU in samples]
        if not found:
            continue
        name, kind, help_ = family
        lines.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n")
        lines.extend(f'{name}{{pid="{pid}"}} {value!r}\n' for pid, value in found)
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
