"""``telemetry/audit``'s ``stdout`` sink when standard output cannot be written (``/dev/full``): the
shared standard-output writer says the outage once, with its reason, for all its lines; the trail
says once the records it lost, without repeating the reason; the stop says the total."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.cli_gateway import ROOT, audited_deny_config, deny_requests
from tests.conftest import free_port
from tests.server.process import wait_http


def test_a_full_standard_output_is_said_once_and_the_trail_names_its_records(tmp_path: Path) -> None:
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "stdout"})
    doc = json.loads(config.read_text())
    # the application log on syslog (a socket read here): standard output is the full device
    # WARNING: the outage's lines, not the start-up's (a datagram socket queues a few only)
    doc["extra_config"]["telemetry/logging"] = {"level": "WARNING", "stdout": False, "syslog": True}
    config.write_text(json.dumps(doc))
    address = str(tmp_path / "syslog.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(0.2)
    received: list[str] = []
    done = threading.Event()

    def read() -> None:  # read as they come: a datagram the socket has no room for is dropped
        while not done.is_set():
            try:
                received.append(receiver.recv(8192).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
    env.update(PYTHONPATH=str(ROOT), KRAKENPY_SYSLOG_ADDRESS=address)
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "1"],
            cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        deny_requests(f"http://127.0.0.1:{port}/x", 4)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
        deadline = time.monotonic() + 10
        while not any("dropped in total" in line for line in received) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
        done.set()
        reader.join(5)
        receiver.close()
    assert proc.returncode == 0, stderr
    reasons = [line for line in received if "No space left on device" in line]
    assert len(reasons) == 1 and "stdout: cannot write: No space left on device" in reasons[0], received
    trail = [line for line in received if "not written" in line]
    assert len(trail) == 1, received
    assert re.search(r"audit: (\d+) record\(s\) not written \(\1 dropped so far\): stdout did not take them", trail[0])
    assert "No space left" not in trail[0], trail
    assert any("audit: 4 record(s) dropped in total" in line for line in received), received
    # standard error: the writer's one line (the application log may be on standard output)
    assert stderr.count("krakenpy: stdout: cannot write: No space left on device") == 1, stderr
