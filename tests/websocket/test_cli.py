"""The real CLI: ``run`` serving a WebSocket endpoint in a subprocess, and ``check`` on bad values
and on a service-level ``websocket`` object (corpus 056's shape)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.conftest import ROOT, free_port, make_config
from tests.server.process import Gateway, wait_http, write_json
from tests.websocket.kit import Seen, echo_app, ws_endpoint

pytestmark = pytest.mark.timeout(60)


def _check(tmp_path: Path, doc: Any, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    command = [sys.executable, "-m", "krakenpy", "check", *args, "-c", str(path)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


async def test_cli_run_serves_a_websocket_endpoint(backend: Any, tmp_path: Path) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    port = free_port()
    doc = make_config([ws_endpoint(host, enable_direct_communication=True)], port=port)
    gateway = Gateway(write_json(tmp_path / "krakend.json", doc), "-w", "1", cwd=tmp_path)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/__health")
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send_str("through the CLI")
            assert (await ws.receive(timeout=5)).data == "through the CLI"
            await ws.send_bytes(b"\x00\x01")
            assert (await ws.receive(timeout=5)).data == b"\x00\x01"
            await ws.send_str("close:4000")
            msg = await ws.receive(timeout=5)
            assert msg.type is WSMsgType.CLOSE and msg.data == 4000
    finally:
        assert gateway.stop() == 0


@pytest.mark.parametrize(
    ("websocket", "method", "path", "message"),
    [
        ({"max_message_size": "big"}, "GET", "endpoints[0].extra_config.websocket.max_message_size", "not of type"),
        ({"backoff_strategy": "slow"}, "GET", "endpoints[0].extra_config.websocket.backoff_strategy", "is not one of"),
        ({"ping_period": "1m"}, "GET", "endpoints[0].extra_config.websocket.ping_period", "shorter than pong_wait"),
        ({"enable_direct": True}, "GET", "endpoints[0].extra_config.websocket.enable_direct", "unknown key"),
        ({}, "POST", "endpoints[0].extra_config.websocket", "GET upgrade"),
    ],
)
def test_cli_check_bad_websocket_value_exits_1_with_its_path(
    tmp_path: Path, websocket: dict[str, Any], method: str, path: str, message: str
) -> None:
    endpoint = ws_endpoint("ws://127.0.0.1:9", **websocket)
    endpoint["method"] = method
    out = _check(tmp_path, make_config([endpoint]))
    assert out.returncode == 1
    line = next(line for line in out.stdout.splitlines() + out.stderr.splitlines() if path in line)
    assert message in line


def test_cli_check_no_backend_host_is_an_error(tmp_path: Path) -> None:
    endpoint = {"endpoint": "/ws", "backend": [{"url_pattern": "/x"}], "extra_config": {"websocket": {}}}
    out = _check(tmp_path, make_config([endpoint]))
    assert out.returncode == 1
    assert "endpoints[0].backend[0].host: a websocket endpoint connects to its backend's host" in out.stdout + out.stderr


def test_cli_check_service_level_object_is_not_read_there(tmp_path: Path) -> None:
    """Corpus 056: KrakenD reads ``websocket`` at endpoint level only; krakenpy says the same."""
    root = {"websocket": {"port": "8088", "websockets": [{"address": "ws://127.0.0.1:8083/x", "api": "/a"}]}}
    out = _check(tmp_path, make_config([], extra_config=root), "--skip-components")
    assert out.returncode == 0
    text = out.stdout + out.stderr
    assert "extra_config.websocket: namespace not read at service level: ignored" in text
    assert "not supported" not in text
