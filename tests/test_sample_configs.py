"""Every sample config passes ``check``; the tour config serves real answers from the demo backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from krakenpy.gateway import load as load_service
from tests.conftest import ROOT

SAMPLES = sorted((ROOT / "sample-configs").glob("*.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_config_passes_check(path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Syntax OK!" in out.stdout


async def test_sample_tour_serves_demo_backend(gateway) -> None:
    sys.path.insert(0, str(ROOT / "sample-configs"))
    try:
        import demo_backend
    finally:
        sys.path.pop(0)
    server = TestServer(demo_backend.make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        service = load_service(ROOT / "sample-configs" / "krakend.json").service
        doc = dict(service.raw)
        doc["host"] = [f"http://127.0.0.1:{server.port}"]
        client = await gateway(doc)
        resp = await client.get("/users/1/profile")
        assert resp.status == 200
        assert await resp.json() == {
            "activity": {"posts": [{"id": 10, "likes": 42, "title": "Notes on the Analytical Engine"}]},
            "address": {"city": "London"},
            "full_name": "Ada Lovelace",
        }
        resp = await client.get("/posts/20/with-author")
        assert (await resp.json())["author"] == {"name": "Alan Turing"}
        resp = await client.get("/recommendations")
        assert resp.status == 200
        assert resp.headers["X-Krakend-Completed"] == "false"
        assert await resp.json() == {"degraded": True, "recommendations": []}
    finally:
        await server.close()
