"""Run in a subprocess by test_memory_cap.py: a hang there (a GIL deadlock) cannot hang the suite."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from krakenpy.errors import PipelineError
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.proxy.types import Request, Response
from tests.lua.test_setters import _IN_LUA, _script

MIB = 1024 * 1024


async def _run(
    raw: dict[str, Any],
    body: bytes,
    headers: dict[str, list[str]],
    backend_body: bytes,
    method: str = "POST",
    data: dict[str, Any] | None = None,
) -> list[Any]:
    request = Request(method=method, path="/x", params={}, headers=headers, query={}, url="/x", body=body)

    async def inner(req: Request) -> Response:
        return Response(data=dict(data or {"ok": True}), headers={}, status=200, body=backend_body)

    try:
        response = await proxy_middleware(_script(raw))(inner)(request)
        return ["ok", response.data]
    except PipelineError as exc:
        return ["error", str(exc), exc.status]


async def main(case: dict[str, Any]) -> list[Any]:
    raw = {case["phase"]: case["code"], "max_memory": MIB}
    if case["vm"]:
        raw["max_instructions"] = _IN_LUA
    big = b"x" * (MIB + 1024)
    if case["big"] == "sweep":  # bodies of these sizes named in a setter's error message, one runtime
        end = b"\x01" if case.get("ctl") else b""  # a body that is no header value either
        runs = [await _run(raw, b"A" * size + end, {"X-V": ["\x01"]}, b"") for size in case["sizes"]]
        return [[r[0], r[1][:40], r[2]] if r[0] == "error" else r for r in runs]
    if case["big"] == "message":  # a body that fits, named in an error message by the script
        out = [await _run(raw, b"A" * 600_000, {"X-V": ["\x01"]}, b"")]
        out.append(await _run(raw, b"A", {"X-V": ["v"]}, b""))  # the same runtime keeps serving
        return out
    out = [
        await _run(
            raw,
            big if case["big"] == "body" else b"",
            {"X-Big": [big.decode()]} if case["big"].startswith("header") else {},
            big if case["big"] == "response" else b"",
            # a method an earlier script set in Lua (request:method(v) checks only its token form)
            big.decode().upper() if case["big"] == "method" else "POST",
            {"ok": True, "big": big.decode()} if case["big"] == "get" else None,
        )
    ]
    out.append(await _run(raw, b"", {}, b""))  # the same runtime keeps serving
    return out


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(asyncio.run(main(orjson.loads(sys.argv[1])))).decode())
