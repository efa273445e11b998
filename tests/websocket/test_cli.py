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


#: (websocket value, method, JSON path under endpoints[i], what the error says): the schema's errors,
#: then the parse's (reported once the schema passes)
_BAD_SCHEMA = [
    ({"max_message_size": "big"}, "GET", "extra_config.websocket.max_message_size", "not of type"),
    ({"backoff_strategy": "slow"}, "GET", "extra_config.websocket.backoff_strategy", "is not one of"),
    ({"enable_direct": True}, "GET", "extra_config.websocket.enable_direct", "unknown key"),
]
_BAD_PARSE = [
    ({"ping_period": "1m"}, "GET", "extra_config.websocket.ping_period", "shorter than pong_wait"),
    ({}, "POST", "extra_config.websocket", "GET upgrade"),
    ({}, "GET", "backend[0].host", "a websocket endpoint connects to its backend's host: none set"),
]


@pytest.mark.parametrize("bad", [_BAD_SCHEMA, _BAD_PARSE], ids=["schema", "parse"])
def test_cli_check_bad_websocket_values_exit_1_with_their_paths(tmp_path: Path, bad: list[Any]) -> None:
    endpoints = []
    for i, (websocket, method, path, _) in enumerate(bad):
        endpoint = ws_endpoint("ws://127.0.0.1:9", path=f"/ws{i}", **websocket)
        endpoint["method"] = method
        if path.endswith("host"):
            del endpoint["backend"][0]["host"]
        endpoints.append(endpoint)
    out = _check(tmp_path, make_config(endpoints))
    assert out.returncode == 1
    lines = (out.stdout + out.stderr).splitlines()
    for i, (_, _, path, message) in enumerate(bad):
        line = next(line for line in lines if line.startswith(f"ERROR: endpoints[{i}].{path}:"))
        assert message in line


def test_cli_check_service_level_object_is_not_read_there(tmp_path: Path) -> None:
    """Corpus 056: KrakenD reads ``websocket`` at endpoint level only; krakenpy says the same."""
    root = {"websocket": {"port": "8088", "websockets": [{"address": "ws://127.0.0.1:8083/x", "api": "/a"}]}}
    out = _check(tmp_path, make_config([], extra_config=root), "--skip-components")
    assert out.returncode == 0
    text = out.stdout + out.stderr
    assert "extra_config.websocket: namespace not read at service level: ignored" in text
    assert "not supported" not in text
