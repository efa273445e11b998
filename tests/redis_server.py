"""A real ``redis-server`` for the tests: its own free loopback port, no persistence, stopped after
the test (``make test`` installs the Debian package when it is missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port


class RedisServer:
    """One redis-server process; :meth:`kill` stops it mid-test, :meth:`start` brings it back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not self.launch():
            pytest.fail(f"redis-server did not start on port {self.port}")

    def launch(self) -> bool:
        """Start the process and wait for its PONG; False (process gone) when it did not come up."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (make test installs it)")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.02)
        self.kill()
        return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    for _ in range(3):  # the free port may be taken between its choice and redis' bind
        server = RedisServer(free_port())
        if server.launch():
            break
    else:
        pytest.fail("redis-server did not start on three ports")
    try:
        yield server
    finally:
        server.kill()
