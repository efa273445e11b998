"""``krakenpy run`` (supervisor and forked workers) serving a gRPC backend: the real CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, free_port
from tests.grpc.conftest import grpc_backend, grpc_config


def _get(url: str, proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read()
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gateway did not answer")


async def test_grpc_cli_run_workers_call_the_backend(tmp_path: Path, flights_server, flights_pb) -> None:
    port = free_port()
    endpoint = {
        "endpoint": "/flights",
        "input_query_strings": ["lat"],
        "backend": [grpc_backend(flights_server.target, grpc={"input_mapping": {"lat": "origin.position.latitude"}})],
    }
    doc = grpc_config([str(flights_pb)], [endpoint], port=port)
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    command = [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "--workers", "2"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # blocking HTTP in a thread: the gRPC server answers on this test's loop. Each request is a
        # new connection, which the kernel gives to either worker (SO_REUSEPORT); each worker calls
        # over its own channel, so two client addresses at the server mean both workers served
        for _ in range(64):
            status, body = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/flights?lat=4.5", proc)
            assert status == 200
            assert json.loads(body)["echo"]["origin"]["position"]["latitude"] == 4.5
            if len(set(flights_server.peers)) == 2:
                break
        assert len(set(flights_server.peers)) == 2, flights_server.peers
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
