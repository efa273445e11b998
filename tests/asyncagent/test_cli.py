"""The real CLI in a subprocess: ``run`` consumes real messages (in one worker of two), ``check``
reports a bad agent at its JSON path and exits 1."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.asyncagent.conftest import Sink, agent_doc, queue_depth
from tests.cli_gateway import check_config, wait_http
from tests.conftest import ROOT, free_port
from tests.rabbitmq_server import RabbitNode, unique


async def test_agent_cli_run_consumes_in_one_worker(
    rabbitmq: RabbitNode, sink: Sink, publisher, tmp_path: Path
) -> None:
    amqp = {"name": unique("q"), "exchange": unique("ex")}
    port = free_port()
    doc = {**agent_doc(rabbitmq.url, sink, amqp, consumer={"workers": 4}), "port": port}
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(path), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/__health", proc)
        async with asyncio.timeout(15):
            while True:
                try:
                    if (await queue_depth(rabbitmq.url, amqp["name"]))[1]:
                        break
                except Exception:  # not declared yet
                    pass
                await asyncio.sleep(0.05)
        publish = await publisher(rabbitmq.url)
        await publish(amqp["exchange"], "cli.bar", b"one", b"two", b"three")
        await sink.wait_for(3)
        assert sorted(sink.bodies) == [b"one", b"three", b"two"]
        assert (await queue_depth(rabbitmq.url, amqp["name"]))[1] == 1  # one consumer for two workers
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0, err
        assert "[SERVICE: AsyncAgent][AMQP][agent-under-test] consuming '*.bar' with 4 workers" in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_agent_cli_check_reports_bad_agent_at_its_path(tmp_path: Path) -> None:
    sink = Sink(url="http://127.0.0.1:9")
    doc = agent_doc("http://not-a-broker:5672/", sink, {"name": "q", "exchange": "e"}, consumer={"workers": 0})
    del doc["async_agent"][0]["extra_config"]["async/amqp"]["exchange"]
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    out = check_config(path, cwd=ROOT)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "async_agent[0].consumer.workers" in text
    assert "async_agent[0].extra_config.async/amqp" in text and "exchange" in text
    assert "Traceback" not in text
