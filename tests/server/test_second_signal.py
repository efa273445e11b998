"""A repeated SIGTERM or Ctrl-C stops a worker whose gateways' close hangs (here: the last OTLP batch
posted to a collector that accepts and never answers, 10 s before the exporter gives up), after
the run directory's leave: the stop the operator asked for twice is never held by a collector."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.components.telemetry.test_workers_metrics import Backend
from tests.conftest import free_port
from tests.server.process import Gateway, SilentCollector, alive, wait_http, write_json


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_repeated_signal_cuts_a_hanging_close(tmp_path: Path, sig: int) -> None:
    collector = SilentCollector()
    port = free_port()
    with Backend() as backend:
        config = {
            "version": 3,
            "port": port,
            "extra_config": {
                "telemetry/opentelemetry": {
                    "service_name": "svc",
                    "trace_sample_rate": 1,
                    "exporters": {
                        "otlp": [
                            {
                                "name": "col",
                                "host": "http://127.0.0.1",
                                "port": collector.port,
                                "use_http": True,
                                "disable_metrics": True,
                            }
                        ]
                    },
                },
                "telemetry/logging": {"level": "INFO", "stdout": True},
            },
            "endpoints": [
                {"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{backend.port}"], "url_pattern": "/"}]}
            ],
        }
        gateway = Gateway(write_json(tmp_path / "gw.json", config), "-w", "1", cwd=tmp_path)
        try:
            wait_http(f"http://127.0.0.1:{port}/__health")
            (worker,) = gateway.worker_pids(1).values()
            for _ in range(3):  # spans the close posts as its last batch
                urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=10).read()
            gateway.signal(signal.SIGTERM)
            gateway.wait_log(r"shutting down \(pid")
            time.sleep(2.0)  # the close waits on the collector (up to 10 s)
            assert gateway.proc.poll() is None and alive(worker)
            if sig == signal.SIGTERM:
                gateway.signal(sig)  # the supervisor forwards it
            else:
                os.kill(worker, sig)  # Ctrl-C in the worker's terminal
            started = time.monotonic()
            gateway.proc.wait(6)
            assert time.monotonic() - started < 6
            assert not alive(worker)
            assert "closing cut by a repeated signal" in gateway.log
        finally:
            gateway.kill()
            collector.close()
