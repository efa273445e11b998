"""sample-configs/lambda.json against its own emulator with the demo functions, canary included."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT
from tests.lambda_.conftest import ministack_bin, start_emulator

pytestmark = pytest.mark.lambda_emulator


def _sample(emulator_url: str) -> dict[str, Any]:
    """The sample config pointed at this test's emulator instead of 127.0.0.1:4566."""
    raw = (ROOT / "sample-configs" / "lambda.json").read_text()
    doc = dict(orjson.loads(raw.replace("http://127.0.0.1:4566", emulator_url)))
    # the emulator starts a runtime on each function's first call: on a busy machine that can take
    # longer than the sample's 3 s
    doc["timeout"] = "30s"
    return doc


@pytest.fixture(scope="module")
def demo_emulator(aws_env: None) -> Iterator[str]:
    binary = ministack_bin()
    if binary is None:
        pytest.skip("Lambda emulator not installed: run `make install-emulator` or set MINISTACK_BIN")
    sys.path.insert(0, str(ROOT / "sample-configs"))
    try:
        import lambda_demo
    finally:
        sys.path.pop(0)
    emulator = start_emulator(binary)
    try:
        asyncio.run(lambda_demo.deploy_demo(emulator.url))
        yield emulator.url
    finally:
        emulator.stop()


async def test_sample_lambda_config_serves_demo(gateway, demo_emulator, needs_node) -> None:
    client = await gateway(_sample(demo_emulator))
    assert await (await client.get("/hello/Ada/Lovelace")).json() == {"message": "Hello Ada Lovelace!"}
    resp = await client.post("/orders", data=b'{"customer": "ada", "lines": [{"qty": 2, "price": 3.5}]}')
    assert await resp.json() == {"order": {"customer": "ada", "lines": 1, "total": 7}, "status": "accepted"}
    assert (await client.get("/call/boom")).status == 403
    resp = await client.get("/items/1", headers={"X-Tenant": "acme"})
    assert await resp.json() == {"item": {"id": "1", "name": "Analytical Engine"}, "tenant": "acme"}
    assert resp.headers["Cache-Control"] == "max-age=60"
    assert (await client.get("/items/9")).status == 404
    resp = await client.get("/dashboard/Grace")
    assert (await resp.json())["release"] == {"release": "v2", "version": "2"}
    assert (await client.post("/events", data=b"{}")).status == 202


async def test_sample_lambda_canary_splits_traffic(gateway, demo_emulator) -> None:
    client = await gateway(_sample(demo_emulator))
    seen: dict[str, int] = {}
    for _ in range(100):  # bounded; P(outside 3..45 canary hits at p=0.2) < 1e-4
        body = await (await client.get("/release")).json()
        seen[body["release"]] = seen.get(body["release"], 0) + 1
    assert set(seen) == {"stable", "canary"}
    assert 3 <= seen["canary"] <= 45
