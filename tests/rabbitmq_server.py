"""A real RabbitMQ node for the tests: its own free loopback ports (AMQP, Erlang distribution, epmd),
node name, cookie, mnesia and log directories, stopped at the end (``make test`` installs the Debian
package when it is missing; the tests are skipped, saying so, only when it is not installed).

One node serves the whole session (:func:`rabbitmq`: a node takes ~8 s to boot); each test names its
own exchange and queue. A test that kills and restarts a broker starts its own (:class:`RabbitNode`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

__all__ = ["RabbitNode", "rabbitmq", "unique"]

#: the script that runs the broker as the calling user (/usr/sbin/rabbitmq-server switches to the
#: rabbitmq user and its /var/lib home, which a private node must not touch)
_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
#: its control tool, run with the node's environment (name, cookie in HOME, epmd port)
_CTL = _SCRIPT.with_name("rabbitmqctl")
#: the AMQP 0-9-1 protocol header: a broker answers with a Connection.Start method frame (type 1)
_HELLO = b"AMQP\x00\x00\x09\x01"
_BOOT = 60.0


def unique(prefix: str) -> str:
    """A name no other test uses on the shared node (exchange, queue)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _skip_reason() -> str | None:
    if not _SCRIPT.exists() or shutil.which("erl") is None:
        return "rabbitmq-server is not installed (make test installs the Debian package)"
    return None


class RabbitNode:
    """One broker process on fixed ports; :meth:`kill` stops it mid-test, :meth:`start` brings it back
    (same node, same data directory)."""

    def __init__(self, port: int | None = None) -> None:
        reason = _skip_reason()
        if reason:
            pytest.skip(reason)
        self.port = port or free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="krakenpy-rabbit-"))
        self.node = f"krakenpy-{uuid.uuid4().hex[:8]}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None
        (self.base / "enabled_plugins").write_text("[].\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),  # the Erlang cookie is written here
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq"),  # none: the defaults
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.base / "rabbit.pid"),
        )
        return env

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(_HELLO)
                return s.recv(1)[:1] == b"\x01"
        except OSError:
            return False

    def start(self) -> None:
        """Boot the node and wait until it accepts AMQP connections."""
        with open(self.base / "stdout.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [str(_SCRIPT)], env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + _BOOT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.ready():
                return
            time.sleep(0.1)
        tail = (self.base / "stdout.log").read_text(errors="replace")[-2000:]
        self.kill()
        pytest.fail(f"rabbitmq did not start on port {self.port}:\n{tail}")

    def kill(self) -> None:
        """SIGKILL the node (the shell script and the Erlang VM: their own process group)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.ready():
            time.sleep(0.05)

    def queue_counts(self, queue: str) -> tuple[int, int]:
        """(ready, unacknowledged) messages of ``queue``, from ``rabbitmqctl``: AMQP's passive declare
        counts only the ready ones, so a consumer that never acknowledges would look like one that does."""
        done = subprocess.run(
            [
                str(_CTL),
                "list_queues",
                "--quiet",
                "--no-table-headers",
                "name",
                "messages_ready",
                "messages_unacknowledged",
            ],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for row in done.stdout.splitlines():
            name, ready, unacked = row.split("\t")
            if name == queue:
                return int(ready), int(unacked)
        raise AssertionError(f"no queue {queue!r} in {done.stdout!r}")

    def stop(self) -> None:
        """Kill the node, its epmd (started by the VM on the private port) and remove its files."""
        self.kill()
        epmd = shutil.which("epmd")
        deadline = time.monotonic() + 10
        while epmd is not None and time.monotonic() < deadline:
            # refused ("living nodes") until epmd has seen the killed node's connection close
            done = subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"],
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if "not allowed" not in done.stdout + done.stderr:
                break
            time.sleep(0.1)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitNode]:
    """The session's broker, booted on first use."""
    node = RabbitNode()
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def rabbit_node() -> Iterator[RabbitNode]:
    """A broker of the test's own, not started: the test starts and kills it."""
    node = RabbitNode()
    try:
        yield node
    finally:
        node.stop()
