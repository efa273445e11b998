"""Helpers for the runtime tests: the real CLI in a subprocess (its log followed line by line), a
bounded load generator and a slow loopback backend. Every load and every wait stops by itself."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp

PY = sys.executable


class Gateway:
    """``krakenpy run`` in a subprocess; :meth:`wait_log` waits for a line of its log."""

    def __init__(
        self,
        config: Path,
        *args: str,
        cwd: Path,
        preexec: Callable[[], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
        self.proc = subprocess.Popen(
            [PY, "-m", "krakenpy", "run", "-c", str(config), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,  # the application log (lura's format on stdout)
            stderr=subprocess.STDOUT,  # and what the CLI prints
            text=True,
            env={**base, **(env or {})},
            preexec_fn=preexec,
            start_new_session=True,  # a stray signal to the test's group never reaches it
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def log(self) -> str:
        with self._seen:
            return "\n".join(self.lines)

    def wait_log(self, pattern: str, timeout: float = 15.0, count: int = 1) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern`` in the log, waiting for them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                found = [m for m in map(regex.search, self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(f"no {count} x {pattern!r} in the log:\n{tail}")
                self._seen.wait(min(left, 0.2))

    def worker_pids(self, count: int, timeout: float = 20.0) -> dict[int, int]:
        """worker slot → pid, from the latest "listening" lines."""
        self.wait_log(r"listening on .* \(pid \d+, worker \d+\)", timeout, count)
        pids: dict[int, int] = {}
        for line in self.lines:
            m = re.search(r"\(pid (\d+), worker (\d+)\)", line)
            if m and "listening" in line:
                pids[int(m.group(2))] = int(m.group(1))
        return pids

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """Leave nothing behind, whatever happened (the whole session: supervisor and workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class SilentCollector:
    """A TCP listener on 127.0.0.1 that accepts every connection and never reads or answers (an OTLP
    collector that hangs: the exporter's post waits its whole timeout). ``close()`` ends it all."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])  # never read, never answered
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def write_json(path: Path, doc: Any) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)  # atomic: the watcher and the supervisor never read half a file
    return path


def alive(pid: int) -> bool:
    """True for a running process (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_http(url: str, timeout: float = 20.0, ssl: Any = None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1, context=ssl).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def port_refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


class Load:
    """``concurrency`` clients requesting ``url`` in a loop on a background thread, for at most
    ``limit`` seconds; counts answers by status and failures by reason."""

    def __init__(self, url: str, *, concurrency: int = 8, fresh_connections: bool = False, limit: float = 40.0):
        self.url = url
        self.concurrency = concurrency
        self.fresh = fresh_connections
        self.limit = limit
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()
        self.failed_at: list[float] = []  # time.monotonic() of each failure
        self.bodies: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.limit + 15)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(force_close=self.fresh, limit=0)
        timeout = aiohttp.ClientTimeout(total=10)
        deadline = time.monotonic() + self.limit
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def client() -> None:
                while not self._stop.is_set() and time.monotonic() < deadline:
                    try:
                        async with session.get(self.url) as response:
                            body = await response.text()
                            self.statuses[response.status] += 1
                            self.bodies[body] += 1
                    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                        self.failures[type(exc).__name__] += 1
                        self.failed_at.append(time.monotonic())
                        await asyncio.sleep(0.01)

            await asyncio.gather(*(client() for _ in range(self.concurrency)))


class SlowBackend:
    """A loopback backend: ``/sleep?s=0.5`` answers ``{"slept": 0.5}`` after that long."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                seconds = float(self.path.partition("s=")[2] or 0)
                time.sleep(min(seconds, 10.0))
                body = json.dumps({"slept": seconds}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client the gateway cut (the drain test does it on purpose)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowBackend:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
