"""Audit records of a real gateway (the CLI, the file sink): a router rate limit's ``max_rate`` 503
is a deny as the client limit's 429 is; a Lua ``custom_error`` names its namespace as the policy and
the client's User-Agent (not the backend-bound request's, the gateway's own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from krakenpy.telemetry.audit import verify_chain
from tests.cli_gateway import gateway_process
from tests.components.telemetry.conftest import recording_app
from tests.conftest import free_port

_UA = "curl/8.5.0"
_DENY = {"pre": "custom_error('no', 403)"}


async def test_audit_rate_limit_503_and_lua_custom_errors(tmp_path: Path, upstream: Any) -> None:
    base = await upstream(recording_app([]))
    port = free_port()
    audit = tmp_path / "audit.log"

    def ep(path: str, extra: dict[str, Any], backend: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "endpoint": path,
            "extra_config": extra,
            "backend": [{"host": [base], "url_pattern": "/b", "extra_config": backend or {}}],
        }

    doc = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/audit": {"sink": "file", "path": str(audit)}},
        "endpoints": [
            ep("/rl", {"qos/ratelimit/router": {"max_rate": 1, "capacity": 1, "every": "1h"}}),
            ep("/lp", {"modifier/lua-proxy": _DENY}),
            ep("/le", {"modifier/lua-endpoint": _DENY}),
            ep("/lb", {}, {"modifier/lua-backend": _DENY}),
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    statuses = []
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession(headers={"User-Agent": _UA}) as http:
            for path in ("/rl", "/rl", "/lp", "/le", "/lb"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    statuses.append(resp.status)
    assert statuses == [200, 503, 403, 403, 403]
    lines = audit.read_bytes().splitlines()
    assert verify_chain(lines)
    got = [
        (r["request"]["path"], r["decision"], r["policy"]["type"], r["reason"], r["response"]["status"],
         r["client"]["user_agent"])
        for r in map(orjson.loads, lines)
    ]  # fmt: skip
    assert got == [
        ("/rl", "deny", "qos/ratelimit/router", "rate_limited", 503, _UA),
        ("/lp", "deny", "modifier/lua-proxy", "lua_custom_error", 403, _UA),
        ("/le", "deny", "modifier/lua-endpoint", "lua_custom_error", 403, _UA),
        ("/lb", "deny", "modifier/lua-backend", "lua_custom_error", 403, _UA),
    ]
