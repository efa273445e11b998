"""The command line's basic logger (no ``telemetry/logging``) masks with the serving gateway's
redactor, as the handlers ``telemetry/logging`` installs do: the service's ``redact`` lists and the
literals learned from its configuration, in every worker and after a reload; the supervisor's own
lines with its configuration's. Lines that quote a raw value (a JWK set's URL, a Lua error, an AWS
error body) were masked with the default rules only."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.cli_gateway import gateway_process
from tests.conftest import free_port

#: a value under a query key only the configuration's ``redact.query_keys`` names
JWK_CANARY = "jwk-c4n4ry-41ad"
#: a value under a field only the configuration's ``redact.body_paths`` names, in a Lua error
LUA_CANARY = "lua-c4n4ry-93be"
#: a credential the configuration holds (``auth/client-credentials``), quoted by an AWS error body
CLIENT_SECRET = "cc-c4n4ry-7f02"
#: a ``redact.query_keys`` value in a host a refused reload quotes (the supervisor's line)
HOST_CANARY = "host-c4n4ry-c6d1"
CANARIES = (JWK_CANARY, LUA_CANARY, CLIENT_SECRET, HOST_CANARY)
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}


async def _refusing_backend(upstream: Any) -> str:
    """A backend that fails everything: a 500 (no JSON) for the JWK set and the data, a Lambda
    ``AccessDeniedException`` whose message quotes the configured client secret."""

    async def failing(_: web.Request) -> web.Response:
        return web.Response(status=500, text="nope")

    async def invoke(_: web.Request) -> web.Response:
        body = json.dumps({"message": f"denied for {CLIENT_SECRET}"})
        headers = {"x-amzn-ErrorType": "AccessDeniedException"}
        return web.Response(status=403, text=body, headers=headers, content_type="application/json")

    app = web.Application()
    app.router.add_get("/jwks", failing)
    app.router.add_get("/data", failing)
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    return str(await upstream(app))


def _doc(port: int, base: str, *, redact: bool, extra_endpoints: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """No ``telemetry/logging``; ``redact``: the lists that name the canaries' keys."""
    service = (
        {"telemetry/access_log": {"redact": {"query_keys": ["sesame"], "body_paths": ["$..pin"]}}} if redact else {}
    )
    return {
        "version": 3,
        "port": port,
        "extra_config": service,
        "endpoints": [
            {
                "endpoint": "/jwt",
                "backend": [{"host": [base], "url_pattern": "/data"}],
                "extra_config": {
                    "auth/validator": {
                        "alg": "RS256",
                        "jwk_url": f"{base}/jwks?sesame={JWK_CANARY}",
                        "disable_jwk_security": True,
                    }
                },
            },
            {
                "endpoint": "/lua",
                "backend": [{"host": [base], "url_pattern": "/data"}],
                "extra_config": {"modifier/lua-proxy": {"post": f'error(\'refused {{"pin":"{LUA_CANARY}"}}\')'}},
            },
            *extra_endpoints,
        ],
    }


def _lambda_endpoint(base: str) -> dict[str, Any]:
    """A Lambda backend on ``base`` beside a backend holding the client secret."""
    token = {"client_id": "gateway", "client_secret": CLIENT_SECRET, "token_url": f"{base}/token"}
    return {
        "endpoint": "/lambda",
        "backend": [
            {
                "host": ["http://127.0.0.1:10"],
                "url_pattern": "/",
                "extra_config": {
                    "backend/lambda": {"region": "us-east-1", "endpoint": base, "max_retries": 0, "function_name": "f"}
                },
            },
            {
                "host": [base],
                "url_pattern": "/data",
                "group": "other",
                "extra_config": {"auth/client-credentials": token},
            },
        ],
    }


async def _get(url: str) -> int:
    """Off the event loop, which serves the backend."""
    return await asyncio.to_thread(_get_blocking, url)


def _get_blocking(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": "Bearer a.b.c"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@contextmanager
def _lines(proc: subprocess.Popen[str]) -> Iterator[list[str]]:
    """Standard output's lines as they come (the pipe read all along), then the process stopped
    and its standard error added."""
    lines: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        lines.extend(proc.stderr.read().splitlines())


async def _wait_for(lines: list[str], needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if needle in line:
                return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"no line with {needle!r}: {lines[-20:]}")


def _leaks(lines: list[str]) -> list[str]:
    return [line for line in lines if any(canary in line for canary in CANARIES)]


async def test_every_worker_masks_with_the_configured_lists_and_learned_secrets(tmp_path: Path, upstream: Any) -> None:
    base = await _refusing_backend(upstream)
    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_doc(port, base, redact=True, extra_endpoints=(_lambda_endpoint(base),))))
    with gateway_process(config, port=port, workers=2, env=AWS_ENV) as proc, _lines(proc) as lines:
        for _ in range(2):  # either worker may answer
            assert await _get(f"http://127.0.0.1:{port}/jwt") == 401
            assert await _get(f"http://127.0.0.1:{port}/lua") == 500
            assert await _get(f"http://127.0.0.1:{port}/lambda") in (500, 502)
        await _wait_for(lines, "cannot fetch the JWK set")
        await _wait_for(lines, "lua post script failed")
        await _wait_for(lines, "credentials or permissions rejected")
    assert not _leaks(lines), _leaks(lines)
    assert any("sesame=[REDACTED]" in line for line in lines), lines
    assert any('{"pin":"[REDACTED]"}' in line for line in lines), lines


async def test_a_reload_brings_its_redaction_to_the_workers_and_the_supervisor(tmp_path: Path, upstream: Any) -> None:
    base = await _refusing_backend(upstream)
    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({**_doc(port, base, redact=False), "endpoints": []}))
    with gateway_process(config, port=port, workers=2) as proc, _lines(proc) as lines:
        # the lists come with the reload: the new configuration's redactor masks the workers' lines
        config.write_text(json.dumps(_doc(port, base, redact=True)))
        proc.send_signal(signal.SIGHUP)
        await _wait_for(lines, "reload 1 applied by 2/2 workers")
        for _ in range(2):
            assert await _get(f"http://127.0.0.1:{port}/lua") == 500
        assert await _get(f"http://127.0.0.1:{port}/jwt") == 401
        await _wait_for(lines, "lua post script failed")
        await _wait_for(lines, "cannot fetch the JWK set")
        # a refused reload's reason quotes a value under a key the running configuration masks
        refused = _doc(port, base, redact=True)
        refused["endpoints"][0]["backend"][0]["host"] = [f"ftp://127.0.0.1:1/?sesame={HOST_CANARY}"]
        config.write_text(json.dumps(refused))
        proc.send_signal(signal.SIGHUP)
        await _wait_for(lines, "reload 2 refused: the running configuration keeps serving")
    assert not _leaks(lines), _leaks(lines)
    assert any("reload 2 refused: " in line and "sesame=[REDACTED]" in line for line in lines), lines
