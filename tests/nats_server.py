"""A real ``nats-server`` for the tests: its own free loopback port, stopped after the test
(``make test`` installs the Debian package when it is missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port


class NatsServer:
    """One nats-server process; :meth:`kill` stops it mid-test, :meth:`launch` brings it back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> bool:
        """Start the process and wait for its INFO line; False (process gone) when it did not come up."""
        binary = shutil.which("nats-server")
        if binary is None:
            pytest.fail("nats-server is not installed (make test installs it)")
        args = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-m", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(5) == b"INFO ":
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
def nats_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    """A running server whose URL is in ``NATS_SERVER_URL`` (where krakenpy and gocloud read it)."""
    for _ in range(3):  # the free port may be taken between its choice and the bind
        server = NatsServer(free_port())
        if server.launch():
            break
    else:
        pytest.fail("nats-server did not start on three ports")
    monkeypatch.setenv("NATS_SERVER_URL", server.url)
    try:
        yield server
    finally:
        server.kill()
