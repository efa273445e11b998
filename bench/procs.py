"""Processes the benchmark starts: pinned with taskset, tracked, and always stopped.

Every process goes through :class:`Processes`, which stops them all (SIGTERM, then SIGKILL) when the
run ends, fails or is interrupted. CPU time and RSS are read from ``/proc``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "http_post",
    "Processes",
    "Started",
    "cpu_by_process",
    "cpu_seconds",
    "http_get",
    "http_get_headers",
    "rss_kib",
    "tree",
    "wait_http",
    "port_free",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ")"
    return raw.rpartition(")")[2].split()


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (pre-forked workers, nginx workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds."""
    total = 0
    for p in tree(pid):
        fields = _stat_fields(p)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def cpu_by_process(pid: int) -> dict[int, float]:
    """utime + stime of ``pid`` and each live descendant, in seconds, per process."""
    out: dict[int, float] = {}
    for p in tree(pid):
        fields = _stat_fields(p)
        if fields is not None:
            out[p] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from a previous run is fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET on 127.0.0.1 (no proxy); returns (status, body); raises OSError on failure."""
    assert url.startswith("http://127.0.0.1:"), url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def http_post(url: str, body: bytes, timeout: float = 2.0) -> tuple[int, bytes]:
    """One JSON POST on 127.0.0.1 (no proxy); returns (status, body); raises OSError on failure."""
    assert url.startswith("http://127.0.0.1:"), url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def http_get_headers(url: str, headers: dict[str, str], timeout: float = 2.0) -> tuple[int, dict[str, str]]:
    """One GET on 127.0.0.1 with request ``headers``; returns (status, response headers)."""
    assert url.startswith("http://127.0.0.1:"), url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            resp.read()
            return int(resp.status), dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), dict(exc.headers.items())


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline: float = 15.0, interval: float = 0.005) -> float:
    """Poll ``url`` until it answers 200; returns the seconds waited. Raises if the process dies."""
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            status, _ = http_get(url, timeout=1.0)
            if status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {deadline}s")
        time.sleep(interval)


@dataclass
class Started:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Processes:
    """Start processes pinned to CPUs; :meth:`stop_all` ends every one of them (children included)."""

    logdir: Path
    started: list[Started] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], cpus: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Started:
        self.logdir.mkdir(parents=True, exist_ok=True)
        log = self.logdir / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(log, "wb") as out:
            t0 = time.monotonic()
            proc = subprocess.Popen(
                ["taskset", "-c", cpus, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,  # own process group: stopped as a whole
            )
        item = Started(name, proc, log, t0)
        self.started.append(item)
        return item

    def stop(self, item: Started, grace: float = 5.0) -> None:
        was_running = item.proc.poll() is None
        if was_running:
            try:
                os.killpg(item.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                item.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(item.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                item.proc.wait(grace)
            # children left in the group (pre-forked workers) after their leader exited
            try:
                os.killpg(item.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if item in self.started:
            self.started.remove(item)

    def stop_all(self) -> None:
        for item in reversed(list(self.started)):
            self.stop(item)

    def tail(self, item: Started, lines: int = 20) -> str:
        try:
            return "\n".join(item.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
