"""Black-box spec cases (in the spirit of krakend-ce ``tests/fixtures/specs``).

Each ``cases/*.json`` is ``{"description", "config"?, "in": {...}, "out": {...}}``. The gateway is built
from ``krakend.json`` (or the file named by ``config``) with ``{BACKEND}`` replaced by the fake backend
and ``{CLOSED}`` by a port nobody listens on. Requests are sent as written (no URL normalisation).

``out`` keys: ``status_code``; ``body`` (exact text); ``body_contains`` (list of substrings);
``json`` (exact JSON); ``json_subset`` (every key given must match; ``"{ANY}"`` = present,
``"{ABSENT}"`` = missing); ``headers`` (exact value, ``null`` = absent, ``"{ANY}"`` = present).
After every case the gateway must still answer a plain request (it keeps serving).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.server.wirekit import gateway_server
from tests.specs.fake_backend import fake_backend_app

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
ANY, ABSENT = "{ANY}", "{ABSENT}"


def _load_config(name: str, backend: str, closed: str) -> dict[str, Any]:
    text = (HERE / name).read_text().replace("{BACKEND}", backend).replace("{CLOSED}", closed)
    doc: dict[str, Any] = orjson.loads(text)
    return doc


def _subset(expected: Any, actual: Any, where: str = "$") -> None:
    if expected == ANY:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if value == ABSENT:
                assert key not in actual, f"{where}.{key}: expected absent, got {actual.get(key)!r}"
                continue
            assert key in actual, f"{where}.{key}: missing in {actual!r}"
            _subset(value, actual[key], f"{where}.{key}")
        return
    assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
async def test_specs(case_file: Path, backend, dead_port: int) -> None:  # type: ignore[no-untyped-def]
    case = orjson.loads(case_file.read_bytes())
    backend_url = await backend(fake_backend_app())
    doc = _load_config(case.get("config", "krakend.json"), backend_url, f"http://127.0.0.1:{dead_port}")
    gateway = await build_gateway(build_service(doc))
    server = await gateway_server(gateway.edge)
    try:
        async with aiohttp.ClientSession(auto_decompress=True) as session:
            spec_in, spec_out = case["in"], case["out"]
            body = spec_in.get("body")
            if isinstance(body, dict | list):
                data: bytes | None = orjson.dumps(body)
            else:
                data = body.encode() if isinstance(body, str) else None
            if "body_repeat" in spec_in:
                data = (data or b"x") * int(spec_in["body_repeat"])
            url = URL(f"http://127.0.0.1:{server.port}{spec_in['url']}", encoded=True)
            async with session.request(
                spec_in.get("method", "GET"),
                url,
                headers=spec_in.get("headers") or {},
                data=io.BytesIO(data) if data is not None and len(data) > 1 << 20 else data,
                allow_redirects=False,
            ) as resp:
                status, headers, raw = resp.status, resp.headers, await resp.read()
            text = raw.decode("utf-8", "replace")
            assert status == spec_out["status_code"], f"{case['description']}: body {text!r}"
            if "body" in spec_out:
                assert text == spec_out["body"]
            for piece in spec_out.get("body_contains", []):
                assert piece in text
            if "json" in spec_out:
                assert orjson.loads(raw) == spec_out["json"]
            if "json_subset" in spec_out:
                _subset(spec_out["json_subset"], orjson.loads(raw))
            for name, value in (spec_out.get("headers") or {}).items():
                if value is None:
                    assert name not in headers, f"{name} should be absent, is {headers.get(name)!r}"
                elif value == ANY:
                    assert name in headers, f"{name} missing"
                else:
                    assert headers.get(name) == value, f"{name}: {headers.get(name)!r} != {value!r}"
            # the server keeps serving after whatever the case did
            async with session.get(URL(f"http://127.0.0.1:{server.port}/users/1")) as again:
                assert again.status == 200
    finally:
        await server.close()
        await gateway.close()
