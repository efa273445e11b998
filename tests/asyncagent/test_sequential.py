"""``sequential_start``: the real CLI with two workers: the agents connect one after the other before
any worker serves HTTP; a broker that refuses holds nobody up for long."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from krakenpy.asyncagent import runner
from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.asyncagent.conftest import Sink, agent_doc, queue_depth
from tests.cli_gateway import wait_http
from tests.conftest import ROOT, free_port
from tests.rabbitmq_server import RabbitNode, unique


def _two_agents(url: str, sink: Sink, port: int, *, sequential: bool) -> tuple[dict[str, Any], list[str]]:
    queues = [unique("q"), unique("q")]
    doc = agent_doc(url, sink, {"name": queues[0], "exchange": unique("ex")})
    second = json.loads(json.dumps(doc["async_agent"][0]))
    second["name"] = "second-agent"
    second["extra_config"]["async/amqp"]["name"] = queues[1]
    doc["async_agent"].append(second)
    doc["port"] = port
    doc["sequential_start"] = sequential
    return doc, queues


def _start(doc: dict[str, Any], tmp_path: Path) -> subprocess.Popen[str]:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(path), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    return out


async def test_sequential_start_agents_consume_before_any_worker_serves(
    rabbitmq: RabbitNode, sink: Sink, tmp_path: Path
) -> None:
    doc, queues = _two_agents(rabbitmq.url, sink, free_port(), sequential=True)
    proc = _start(doc, tmp_path)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{doc['port']}/__health", proc)
        # the first answer already finds both agents consuming
        assert [(await queue_depth(rabbitmq.url, q))[1] for q in queues] == [1, 1]
        out = await asyncio.to_thread(_stop, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    first = out.index("[agent-under-test] consuming")
    second = out.index("[second-agent] consuming")
    listening = [m.start() for m in re.finditer(r"listening on .*\(pid \d+, worker \d\)", out)]
    assert listening  # every worker that served did so after the agents (the second forks later)
    assert first < second < min(listening), out


def test_sequential_start_a_refusing_broker_ends_the_wait_at_once(sink: Sink, tmp_path: Path) -> None:
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there: refused at once
    doc, _ = _two_agents(down, sink, free_port(), sequential=True)
    proc = _start(doc, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{doc['port']}/__health", proc, timeout=40)
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    failed = [m.start() for m in re.finditer(r"building the amqp subscriber", out)]
    assert len(failed) >= 2 and "guest:guest" not in out
    assert max(failed[:2]) < out.index("listening on"), out
    assert "no answer from the broker yet" not in out  # a failed first attempt counts as started


async def test_sequential_start_a_silent_broker_holds_each_agent_at_most_the_wait(
    sink: Sink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts the TCP connection and never speaks AMQP

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(runner, "FIRST_ATTEMPT_WAIT", 0.5)
    doc, _ = _two_agents(f"amqp://guest:guest@127.0.0.1:{port}/", sink, free_port(), sequential=True)
    gw = await build_gateway(build_service(doc))
    caplog.set_level(logging.INFO, logger="krakenpy")
    try:
        began = time.monotonic()
        await gw.start()
        waited = time.monotonic() - began
        warned = [r.getMessage() for r in caplog.records if "no answer from the broker yet" in r.getMessage()]
        assert [w.split("]")[2] for w in warned] == ["[agent-under-test", "[second-agent"]  # in their order
        assert 1.0 <= waited < 15  # 0.5 s per agent; unbounded it would be the driver's 10 s each
        assert len(accepted) == 2  # both agents went on connecting in the background
    finally:
        await gw.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


def test_sequential_start_opens_the_stats_listener_before_the_agents_wait(tmp_path: Path) -> None:
    """The telemetry listeners start before the agents: a broker that accepts and never speaks holds the
    agent's start (the sequential wait), not /__stats. Before: 13.3 s here (after the wait), 2.0 s now."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)  # the kernel accepts; nothing speaks AMQP
    port, stats = free_port(), free_port()
    broker = f"amqp://guest:guest@127.0.0.1:{mute.getsockname()[1]}/"
    doc = {
        "version": 3,
        "port": port,
        "sequential_start": True,
        "extra_config": {"telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"}},
        "endpoints": [{"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/x"}]}],
        "async_agent": [
            {
                "name": "a1",
                "consumer": {"topic": "*.bar", "workers": 1},
                "connection": {"backoff_strategy": "linear"},
                "backend": [{"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/sink", "method": "POST"}],
                "extra_config": {"async/amqp": {"host": broker, "name": "q", "exchange": "ex"}},
            }
        ],
    }
    started = time.monotonic()
    proc = _start(doc, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{stats}/__stats", proc, timeout=30)
        opened = time.monotonic() - started
        assert opened < 6, opened
    finally:
        proc.kill()
        proc.communicate(timeout=20)
        mute.close()
