"""Process metrics without a thread: where the kernel gives a process's open descriptors as the size of
``/proc/PID/fd`` (Linux 6.2+), a scrape reads procfs on the loop. Until round 27 every scrape ran it
through ``asyncio.to_thread``, and the first scrape's thread stayed for the process's life, putting
every later request on glibc's multi-threaded ``malloc`` and system-call paths."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from krakenpy.telemetry.metrics import process
from tests.conftest import free_port
from tests.server.process import Gateway


def _open_fds(text: str) -> float:
    match = re.search(r"^process_open_fds (\S+)$", text, re.M)
    assert match is not None, text
    return float(match.group(1))


def test_the_open_descriptor_count_follows_descriptors_opened_and_closed() -> None:
    before = _open_fds(process.process_text())
    opened = [os.open("/dev/null", os.O_RDONLY) for _ in range(40)]
    try:
        assert _open_fds(process.process_text()) == before + 40
        pids = process.process_text([os.getpid()])
        assert f'process_open_fds{{pid="{os.getpid()}"}} {before + 40!r}' in pids
    finally:
        for fd in opened:
            os.close(fd)
    assert _open_fds(process.process_text()) == before


@pytest.mark.skipif(not process.INLINE, reason="the kernel lists descriptors only (before Linux 6.2)")
def test_a_scraped_gateway_worker_stays_single_threaded(tmp_path: Path) -> None:
    port, prom, dead = free_port(), free_port(), free_port()
    config = {
        "version": 3,
        "port": port,
        "endpoints": [{"endpoint": "/s", "backend": [{"host": [f"http://127.0.0.1:{dead}"], "url_pattern": "/x"}]}],
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {
                    "prometheus": [{"name": "prom", "port": prom, "listen_ip": "127.0.0.1", "process_metrics": True}]
                }
            }
        },
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(config))
    gateway = Gateway(path, "--workers", "1", "--loop", "uvloop", cwd=tmp_path)
    try:
        (worker,) = gateway.worker_pids(1).values()
        texts = []
        for _ in range(3):
            for _ in range(50):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as answer:
                        texts.append(answer.read().decode())
                    break
                except OSError:
                    time.sleep(0.1)
        assert len(texts) == 3
        assert all(_open_fds(t) > 0 for t in texts)
        assert "process_resident_memory_bytes" in texts[-1]
        threads = sorted(os.listdir(f"/proc/{worker}/task"))
        assert threads == [str(worker)], [open(f"/proc/{worker}/task/{t}/comm").read().strip() for t in threads]
    finally:
        gateway.kill()
