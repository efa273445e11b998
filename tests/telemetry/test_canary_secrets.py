"""Secrets that reached an output through the side doors a review of the previous round left open:
the API keys' ``key_id``, MCP argument errors, LLM debug output, JSON-schema over-masking, Lua
``print`` and the components the first canaries did not cover."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from redis.asyncio import Redis

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config, gateway_process
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import ROOT, free_port
from tests.redis_server import redis_server
from tests.telemetry.conftest import served, upstream

__all__ = ["redis_server", "served", "upstream"]

#: a secret the configuration holds (an LLM vendor's key)
VENDOR_KEY = "sk-v3nd0r-c4n4ry-77aa"
#: a weak API key: a reader of the old ``key_id`` (its SHA-256's first 12 hex digits) confirmed it
#: with one hash
WEAK_KEY = "hunter22"


def _get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _api_keys_doc(port: int, backend: dict[str, Any], audit_key_env: str = "", **service_keys: Any) -> dict[str, Any]:
    keys = {"keys": [{"key": WEAK_KEY, "roles": ["reader"]}], "identifier": "X-Api-Key", **service_keys}
    return {
        "version": 3,
        "port": port,
        "extra_config": {
            "auth/api-keys": keys,
            "telemetry/audit": {"sensitive": True} | ({"fingerprint_key_env": audit_key_env} if audit_key_env else {}),
            "telemetry/logging": {"level": "DEBUG", "stdout": True},
        },
        "endpoints": [
            {"endpoint": "/read", "extra_config": {"auth/api-keys": {"roles": ["reader"]}}, "backend": [backend]},
            {"endpoint": "/admin", "extra_config": {"auth/api-keys": {"roles": ["admin"]}}, "backend": [backend]},
        ],
    }


def test_an_api_keys_key_id_is_a_keyed_fingerprint(tmp_path: Path) -> None:
    """``auth/api-keys``' ``key_id`` (audit subject, a 403's detail in the audit and the log, claims)
    was the first 12 hex digits of the key's SHA-256: anyone reading the logs confirmed a guessed
    weak key by hashing it. It is an HMAC-SHA256 of the digest under ``fingerprint_key_env``'s key,
    the same in every process given the same key (here ``telemetry/audit``'s, which the API keys
    fall back on)."""
    port = free_port()
    config = tmp_path / "krakend.json"
    backend = {"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}
    config.write_bytes(orjson.dumps(_api_keys_doc(port, backend, audit_key_env="TEST_KEYID_SECRET")))
    env = {"TEST_KEYID_SECRET": "s3cr3t-operator-key"}
    with gateway_process(config, port=port, env=env) as proc:
        assert _get(f"http://127.0.0.1:{port}/admin", {"X-Api-Key": WEAK_KEY}) == 403
        assert _get(f"http://127.0.0.1:{port}/read", {"X-Api-Key": WEAK_KEY}) in (500, 502, 503)
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    printed = out + err
    digest = hashlib.sha256(WEAK_KEY.encode()).hexdigest()
    assert digest[:12] not in printed and WEAK_KEY not in printed
    keyed = "hmac-sha256:" + hmac.new(b"s3cr3t-operator-key", digest.encode(), hashlib.sha256).hexdigest()[:16]
    records = [orjson.loads(line) for line in out.splitlines() if line.startswith('{"ts"')]
    mine = [r for r in records if r["policy"]["type"] == "auth/api-keys"]
    assert [(r["decision"], r["reason_detail"] if r["subject"] is None else r["subject"]["key_id"]) for r in mine] == [
        ("deny", f"key {keyed}: role"),
        ("allow", keyed),
    ]


def test_check_says_how_key_ids_are_keyed_without_a_key(tmp_path: Path) -> None:
    """Without ``fingerprint_key_env`` (or with one naming an unset variable) ``check`` warns that the
    ids come from a random key per run (``--lint`` fails only on a variable named and unset);
    with it set, nothing is said."""
    config = tmp_path / "krakend.json"
    backend = {"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend)))
    result = check_config(config)
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    assert "no fingerprint_key_env (here or in telemetry/audit)" in printed and "random key per run" in printed
    assert check_config(config, "--lint").returncode == 0  # a warning only: KrakenD's files have no such key
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend, fingerprint_key_env="TEST_KEYID_UNSET")))
    result = check_config(config, env={"TEST_KEYID_UNSET": ""})
    assert "environment variable TEST_KEYID_UNSET is not set or empty" in result.stdout + result.stderr
    result = check_config(config, env={"TEST_KEYID_UNSET": "k"})
    assert "fingerprint_key_env" not in result.stdout + result.stderr


def test_check_skip_components_says_how_key_ids_are_keyed_too(tmp_path: Path) -> None:
    """The warning follows from the configuration alone, yet only the full ``check`` (which builds
    the components) said it: ``check --skip-components`` passed such a file in silence. Now both
    say it once, at ``extra_config.auth/api-keys``, and ``--lint`` still takes it as a warning."""
    config = tmp_path / "krakend.json"
    backend = {"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend)))
    warning = "WARNING: extra_config.auth/api-keys: no fingerprint_key_env (here or in telemetry/audit): "
    for args in (("--skip-components",), (), ("--skip-components", "--lint")):
        result = check_config(config, *args)
        assert result.returncode == 0 and result.stderr.count(warning) == 1, (args, result.stderr)
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend, audit_key_env="TEST_KEYID_SET")))
    result = check_config(config, "--skip-components", env={"TEST_KEYID_SET": "k"})
    assert result.returncode == 0 and "fingerprint_key_env" not in result.stderr, result.stderr


async def test_a_credentials_redis_name_is_keyed_by_the_fingerprint_key(  # type: ignore[no-untyped-def]
    served, upstream, redis_server, monkeypatch
) -> None:
    """A rate limit and a quota keyed by a credential header name their Redis counters by a BLAKE2b
    of the credential: unkeyed, a weak API key was confirmed from a key listing by hashing a guess.
    With a fingerprint key configured the hash is keyed by it (the same on every instance)."""
    monkeypatch.setenv("TEST_STORE_KEY", "operator-secret")
    ok = await upstream(recording_app([]))
    limit = {"connection_name": "r", "client_max_rate": 1, "every": "1h", "strategy": "header", "key": "X-Api-Key"}
    rules = [{"name": "r", "limits": [{"amount": 1, "unit": "day"}]}]
    tiers = [{"rule_name": "r", "key": "X-Api-Key", "strategy": "header", "tier_value": "k"}]
    quota = {"quota_name": "q", "tier_key": "X-Tier", "tiers": tiers}
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "redis": {"connection_pools": [{"name": "r", "address": redis_server.address}]},
                "governance/processors": {"quotas": [{"name": "q", "connection_name": "r", "rules": rules}]},
                "telemetry/audit": {"fingerprint_key_env": "TEST_STORE_KEY"},
            },
            "endpoints": [
                {
                    "endpoint": "/limited",
                    "extra_config": {"qos/ratelimit/router/redis": limit},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
                {
                    "endpoint": "/quota",
                    "extra_config": {"governance/quota": quota},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
            ],
        }
    )
    headers = {"X-Api-Key": WEAK_KEY, "X-Tier": "k"}
    statuses = [(await s.client.get(path, headers=headers)).status for path in ("/limited", "/limited", "/quota")]
    assert statuses == [200, 429, 200]
    client = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        names = sorted(await client.keys("*"))
    finally:
        await client.aclose()
    unkeyed = hashlib.blake2b(WEAK_KEY.encode(), digest_size=16).hexdigest().encode()
    assert len(names) >= 2 and all(b"#" in name for name in names), names
    assert not any(unkeyed in name or WEAK_KEY.encode() in name for name in names)


def _leaks(secret: str, outputs: dict[str, bytes]) -> dict[str, int]:
    """How many times each output holds ``secret`` (those holding it only)."""
    raw = secret.encode()
    return {name: data.count(raw) for name, data in outputs.items() if raw in data}


def _every_output(port: int) -> dict[str, Any]:
    """The outputs a request's texts reach: the client's error texts, the DEBUG app log, the JSON
    access log and OTLP spans (with every round trip) to the receiver on ``port``."""
    return {
        "router": {"return_error_msg": True},
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/access_log": {"format": "json"},
        "telemetry/opentelemetry": {
            "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": port, "use_http": True}]},
            "layers": {"backend": {"traces": {"round_trip": True}}},
        },
    }


def _chatty_vendor() -> web.Application:
    """An OpenAI-shaped vendor that quotes the credential it got: in a 200 answer's text, and in a
    401's error message (as a vendor that refuses a key does)."""

    async def handle(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if request.path.endswith("/refuse"):
            return web.json_response({"error": {"message": f"Incorrect API key provided: {key}"}}, status=401)
        output = [{"type": "message", "content": [{"type": "output_text", "text": f"you sent {key}"}]}]
        return web.json_response({"output": output, "usage": {"total_tokens": 3}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def test_an_llm_vendors_key_reaches_no_output(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """``ai/llm`` with ``debug``: the vendor's answer quoting the configured key (a 401's "Incorrect
    API key provided: <key>", a test vendor echoing it) was written as is in the DEBUG lines; a
    refusal passed through with ``return_error_code`` handed the operator's key to the client. The
    configuration's credential is masked as a literal in every text and body written, and in a
    vendor's error answer."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    vendor = await upstream(_chatty_vendor())
    llm = {"openai": {"v1": {"credentials": VENDOR_KEY, "debug": True, "variables": {"model": "m"}}}}

    def endpoint(path: str, url: str) -> dict[str, Any]:
        backend = {"host": [vendor], "url_pattern": url, "extra_config": {"ai/llm": llm}}
        backend["extra_config"]["backend/http"] = {"return_error_code": True}
        return {"endpoint": path, "method": "POST", "backend": [backend]}

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [endpoint("/ask", "/v1/responses"), endpoint("/refused", "/v1/refuse")],
        }
    )
    answers = []
    for path in ("/ask", "/refused"):
        resp = await s.client.post(path, data=orjson.dumps({"contents": "hi"}))
        answers.append((resp.status, await resp.text()))
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "refusal": answers[1][1].encode(), "otlp": b"\n".join(receiver.bodies)}
    assert _leaks(VENDOR_KEY, outputs) == {}
    assert answers[1][0] == 401 and "Incorrect API key provided: [REDACTED]" in answers[1][1]
    assert out.count(b"ai/llm openai/v1 answer") == 2 and b"you sent [REDACTED]" in out


async def test_a_schema_violation_at_an_object_holding_a_secret_keeps_words_that_quote_no_value(  # type: ignore[no-untyped-def]
    served, upstream
) -> None:
    """A violation whose instance is an object holding a masked field (``'x' was unexpected``,
    ``"email" is a required property`` at the root) lost its message for ``additionalProperties
    violated (value redacted)``; a message that quotes no masked value keeps its words, one that
    quotes the object (``{…} has more than 2 properties``) still names its keyword only."""
    ok = await upstream(recording_app([]))
    schema = {
        "type": "object",
        "properties": {"password": {"type": "string"}, "age": {}},
        "additionalProperties": False,
        "required": ["email"],
        "maxProperties": 2,
    }
    s = await served(
        {
            "version": 3,
            "extra_config": {"router": {"return_error_msg": True}, "telemetry/access_log": {"stdout": False}},
            "endpoints": [
                {
                    "endpoint": "/detailed",
                    "method": "POST",
                    "extra_config": {"validation/json-schema": schema, "validation/json-schema-errors": {}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                }
            ],
        }
    )
    resp = await s.client.post("/detailed", data=orjson.dumps({"password": WEAK_KEY, "x": 1, "age": 3}))
    assert resp.status == 400
    details = (await resp.json())["details"]
    assert WEAK_KEY not in orjson.dumps(details).decode()
    assert sorted(v["message"] for v in details) == sorted(
        [
            "Additional properties are not allowed ('x' was unexpected)",
            '"email" is a required property',
            "maxProperties violated (value redacted)",
        ]
    )


async def test_an_mcp_tools_invalid_argument_never_quotes_a_masked_field(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """``tools/call`` answered a violation of the input schema quoting the argument (``"hunter22" is
    shorter than 12 characters``) into the result, which MCP hosts keep in their transcripts: an
    argument the body paths mask (``password``, ``token``) is named by its place and keyword, any
    other keeps the validator's words."""
    ok = await upstream(recording_app([]))
    schema = {
        "type": "object",
        "properties": {"password": {"type": "string", "minLength": 12}, "code": {"type": "string", "maxLength": 2}},
    }
    tool = {
        "name": "login",
        "input_schema": schema,
        "return_error_msg": True,
        "workflow": {"endpoint": "/__mcp/login", "backend": [{"host": [ok], "url_pattern": "/o"}]},
    }
    entry = {
        "endpoint": "/mcp",
        "method": "POST",
        "backend": [{"host": [ok], "url_pattern": "/ignore"}],
        "extra_config": {"ai/mcp": {"server_name": "s"}},
    }
    server = {"name": "s", "version": "1", "stateless": True, "tools": [tool]}
    s = await served({"version": 3, "endpoints": [entry], "extra_config": {"ai/mcp": {"servers": [server]}}})
    call = {"name": "login", "arguments": {"password": WEAK_KEY, "code": "ESP"}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    resp = await s.client.post("/mcp", data=orjson.dumps(message), headers=headers)
    result = (await resp.json())["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert WEAK_KEY not in text
    assert "at '/password': minLength violated (value redacted)" in text and '"ESP" is longer than 2' in text


async def test_a_script_printing_a_body_field_of_a_request_that_succeeds_keeps_it_secret(  # type: ignore[no-untyped-def]
    served, upstream, capfd
) -> None:
    """``print(b.password)`` in a Lua script, the request then succeeding: the body was handed to the
    texts' masking on a failure only, so the printed line carried the password. A script that reads
    the body hands it over: the lines written about the request from then on mask its masked
    fields' values (a script that never reads the body, an endpoint without Lua, pays nothing)."""
    ok = await upstream(recording_app([]))
    script = "local b = json.decode(request.load():body()); print('login for ' .. b.user .. ' ' .. b.password)"
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/logging": {"level": "DEBUG", "stdout": True}},
            "endpoints": [
                {
                    "endpoint": "/login",
                    "method": "POST",
                    "extra_config": {"modifier/lua-proxy": {"pre": script}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                }
            ],
        }
    )
    body = orjson.dumps({"user": "ada", "password": WEAK_KEY})
    resp = await s.client.post("/login", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    await s.gateway.close()
    out = capfd.readouterr().out
    assert WEAK_KEY not in out and "lua: login for ada [REDACTED]" in out


#: a token the gateway's OAuth2 client obtains, and the client secret it obtains it with
GATEWAY_TOKEN = "gw-t0k3n-c4n4ry-31337"
CLIENT_SECRET = "cl13nt-s3cr3t-c4n4ry"


def _token_endpoint_and_api() -> web.Application:
    """A token endpoint handing out :data:`GATEWAY_TOKEN` (``/token``) or refusing the client, quoting
    the form it got (``/refuse``), and an API refusing the token, quoting it (``/api``)."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": GATEWAY_TOKEN, "token_type": "bearer", "expires_in": 3600})

    async def refuse(request: web.Request) -> web.Response:
        form = await request.text()
        auth = request.headers.get("Authorization", "")
        return web.json_response({"error": "invalid_client", "got": form, "auth": auth}, status=401)

    async def api(request: web.Request) -> web.Response:
        got = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response({"error": f"token {got} has no scope"}, status=403)

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/refuse", refuse)
    app.router.add_get("/api", api)
    return app


async def test_the_gateways_oauth2_credentials_reach_no_output(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """``auth/client-credentials``: the token the gateway obtained is its own secret, yet an API's
    refusal quoting it went on to the client (``return_error_code``) as the backend's answer; and
    the client secret, configured, must not appear either (a token endpoint's refusal, the failure
    texts, ``/__debug/``)."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    host = await upstream(_token_endpoint_and_api())

    def endpoint(path: str, token_path: str) -> dict[str, Any]:
        credentials = {"client_id": "gw", "client_secret": CLIENT_SECRET, "token_url": host + token_path}
        extra = {"auth/client-credentials": credentials, "backend/http": {"return_error_code": True}}
        return {"endpoint": path, "backend": [{"host": [host], "url_pattern": "/api", "extra_config": extra}]}

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [endpoint("/api", "/token"), endpoint("/refused", "/refuse")],
        },
        debug=True,
    )
    answers = []
    for path in ("/api", "/refused"):
        resp = await s.client.get(path)
        answers.append((resp.status, await resp.text()))
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "answers": repr(answers).encode(), "otlp": b"\n".join(receiver.bodies)}
    assert _leaks(GATEWAY_TOKEN, outputs) == {} and _leaks(CLIENT_SECRET, outputs) == {}
    assert answers[0] == (403, '{"error": "token [REDACTED] has no scope"}')


def test_routes_never_prints_a_key_written_into_a_url_pattern(tmp_path: Path) -> None:
    """``krakenpy routes`` (every format) printed a backend's ``url_pattern`` as written, a key in its
    query (``/v1?api_key=…``, how some APIs are called) included, into a terminal or a CI log; it is
    masked as the logs mask it (with the service's ``redact`` lists)."""
    config = tmp_path / "krakend.json"
    backend = {
        "host": ["http://127.0.0.1:8081"],
        "url_pattern": f"/v1/x?api_key={WEAK_KEY}&vk=vendor-c4n4ry",
    }
    doc = {
        "version": 3,
        "extra_config": {"telemetry/access_log": {"redact": {"query_keys": ["vk"]}}},
        "endpoints": [{"endpoint": "/x", "backend": [backend]}],
    }
    config.write_bytes(orjson.dumps(doc))
    for form in ("table", "json", "mermaid"):
        result = subprocess.run(
            [sys.executable, "-m", "krakenpy", "routes", "-c", str(config), "--format", form],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 0, result.stderr
        printed = result.stdout + result.stderr
        assert WEAK_KEY not in printed and "c4n4ry" not in printed, (form, printed)
        assert "/v1/x?api_key=[REDACTED]&vk=[REDACTED]" in printed


async def test_the_debug_and_echo_endpoints_and_a_cached_backend_log_no_secret(  # type: ignore[no-untyped-def]
    served, upstream, capfd
) -> None:
    """``/__debug/`` (which logs the whole request), ``/__echo/`` and an ``qos/http-cache`` backend
    (its hits answer without a call) with every output on: one secret sent in ``Authorization``, a
    cookie, a ``token`` query value and a JSON ``password`` reaches no log line nor span."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([]))
    backend = {"host": [ok], "url_pattern": "/o", "extra_config": {"qos/http-cache": {}}}
    s = await served(
        {
            "version": 3,
            "echo_endpoint": True,
            "extra_config": _every_output(port),
            "endpoints": [{"endpoint": "/cached", "method": "POST", "backend": [backend]}],
        },
        debug=True,
    )
    headers = {"Authorization": f"Bearer {WEAK_KEY}", "Cookie": f"sid={WEAK_KEY}", "Content-Type": "application/json"}
    body = orjson.dumps({"user": "ada", "password": WEAK_KEY})
    statuses = []
    for path in ("/__debug/x", "/__echo/x", "/cached", "/cached"):
        resp = await s.client.post(f"{path}?token={WEAK_KEY}", data=body, headers=headers)
        statuses.append(resp.status)
        await resp.read()
    assert statuses == [200, 200, 200, 200]
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    assert _leaks(WEAK_KEY, {"stdout": out, "otlp": b"\n".join(receiver.bodies)}) == {}
    assert out.count(b"/__debug/") >= 1


UPSTREAM_KEY = "upstr3am-k3y-c4n4ry"


async def test_an_upstream_key_a_martian_modifier_adds_reaches_no_output(  # type: ignore[no-untyped-def]
    served, upstream, capfd
) -> None:
    """``modifier/martian`` adding the upstream's API key (``header.Modifier`` ``X-Api-Key``, a
    ``querystring.Modifier`` ``api_key``), the gateway's own credential: an upstream refusing it,
    quoting it, handed it to the client (``return_error_code``, a ``no-op`` backend). The values
    written into a masked header or query key are masked in a refusal and in every text."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])

    async def refuse(request: web.Request) -> web.Response:
        got = request.headers.get("X-Api-Key", "") + " " + request.query.get("api_key", "")
        return web.json_response({"error": f"unknown keys {got}"}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    host = await upstream(app)
    header = {"header.Modifier": {"scope": ["request"], "name": "X-Api-Key", "value": UPSTREAM_KEY}}
    query = {"querystring.Modifier": {"scope": ["request"], "name": "api_key", "value": UPSTREAM_KEY + "-q"}}
    martian = {"fifo.Group": {"scope": ["request", "response"], "modifiers": [header, query]}}

    def endpoint(path: str, encoding: str, extra: dict[str, Any]) -> dict[str, Any]:
        backend = {"host": [host], "url_pattern": "/u", "encoding": encoding}
        backend["extra_config"] = {"modifier/martian": martian, **extra}
        return {"endpoint": path, "output_encoding": encoding, "backend": [backend]}

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [
                endpoint("/coded", "json", {"backend/http": {"return_error_code": True}}),
                endpoint("/raw", "no-op", {}),
            ],
        }
    )
    answers = []
    for path in ("/coded", "/raw"):
        resp = await s.client.get(path)
        answers.append((resp.status, await resp.text()))
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "answers": repr(answers).encode(), "otlp": b"\n".join(receiver.bodies)}
    assert _leaks(UPSTREAM_KEY, outputs) == {}
    assert [status for status, _ in answers] == [401, 401]
    assert all("unknown keys [REDACTED] [REDACTED]" in text for _, text in answers), answers


def test_a_flexible_configurations_broken_line_never_shows_an_injected_secret(tmp_path: Path) -> None:
    """Flexible Configuration injects secrets from the environment (``{{ env "API_KEY" }}``); a
    rendered file that is not JSON was reported with the broken line as rendered, the secret in it
    (a CI log). Pairs whose key names a secret are masked there, and the text rules apply."""
    template = tmp_path / "krakend.tmpl"
    template.write_text(
        '{"version": 3, "extra_config": '
        '{"auth/api-keys": {"keys": [{"key": "{{ env "TEST_FC_KEY" }}", "roles": ["u"]}]},'
        ' "telemetry/audit": {"sink": "http", "url": "http://127.0.0.1:9/?token={{ env "TEST_FC_KEY" }}"}}'
        ' "endpoints": []}\n'
    )
    result = check_config(template, env={"FC_ENABLE": "1", "TEST_FC_KEY": WEAK_KEY})
    printed = result.stdout + result.stderr
    assert result.returncode != 0 and "rendered line 1:" in printed, printed
    assert WEAK_KEY not in printed
    assert '"key": "[REDACTED]"' in printed and "?token=[REDACTED]" in printed


async def test_the_audit_config_hash_says_nothing_of_the_configs_secrets(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """Every audit record's ``policy.config_hash`` was an unkeyed SHA-256 of the configuration file,
    secrets included: a reader of the trail who knows the rest of the file (a template in a
    repository, the secrets injected from the environment) confirmed a guessed key by hashing the
    file with it. The digest is taken with the secrets' values blanked: the same whatever the key,
    and still another when anything else changes (a role)."""
    ok = await upstream(recording_app([]))

    def doc(key: str, role: str) -> dict[str, Any]:
        return {
            "version": 3,
            "extra_config": {
                "auth/api-keys": {"keys": [{"key": key, "roles": [role]}], "identifier": "X-Api-Key"},
                "telemetry/audit": {},
                "telemetry/access_log": {"stdout": False},
            },
            "endpoints": [
                {
                    "endpoint": "/r",
                    "extra_config": {"auth/api-keys": {"roles": ["reader"]}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                }
            ],
        }

    hashes = []
    for key, role in ((WEAK_KEY, "reader"), ("another-key-0", "reader"), (WEAK_KEY, "admin")):
        s = await served(doc(key, role))
        assert (await s.client.get("/r")).status == 401
        await s.gateway.close()
        out = capfd.readouterr().out
        records = [orjson.loads(line) for line in out.splitlines() if line.startswith('{"ts"')]
        hashes.append(records[0]["policy"]["config_hash"])
    assert hashes[0] == hashes[1] != hashes[2]


def test_without_a_fingerprint_key_the_workers_of_one_run_agree_on_a_key_id(tmp_path: Path) -> None:
    """The random fallback key was drawn in each worker: with ``run -w 2`` (the default is a worker
    per CPU) one API key read as two ``key_id`` s in one instance's logs. It is drawn once before
    the workers are forked."""
    port = free_port()
    config = tmp_path / "krakend.json"
    backend = {"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}
    doc = _api_keys_doc(port, backend)
    trail = tmp_path / "audit.log"
    doc["extra_config"]["telemetry/audit"] |= {"sink": "file", "path": str(trail)}
    config.write_bytes(orjson.dumps(doc))
    details: dict[str, set[str]] = {}
    headers = {"X-Api-Key": WEAK_KEY, "Connection": "close"}
    with gateway_process(config, port=port, workers=2), ThreadPoolExecutor(20) as pool:
        # bursts of concurrent connections, which the acceptor splits over the workers, until both
        # have answered (a loaded machine starts the second worker late: a clean-clone run saw one)
        for _ in range(100):
            statuses = list(pool.map(lambda _: _get(f"http://127.0.0.1:{port}/admin", headers), range(20)))
            assert statuses == [403] * 20
            time.sleep(0.1)  # the trail's batch written
            details = {}
            for line in trail.read_bytes().splitlines():
                record = orjson.loads(line)
                details.setdefault(record["instance"], set()).add(record["reason_detail"])
            if len(details) == 2:
                break
    assert len(details) == 2, details  # both workers answered
    assert len(set.union(*details.values())) == 1, details


#: a vendor key holding a quote and a backslash: a JSON text carries it escaped (``\"``, ``\\``)
QUOTED_KEY = 'sk-qu"0t3d\\c4n4ry-88bb'


async def test_a_key_with_a_quote_is_masked_where_json_escapes_it(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """The literal masking looked for the key as configured only: a JSON body holds it escaped, so
    ``debug``'s logged answer and a refusal passed on to the client (``return_error_code``) kept it."""
    vendor = await upstream(_chatty_vendor())
    llm = {"openai": {"v1": {"credentials": QUOTED_KEY, "debug": True, "variables": {"model": "m"}}}}

    def endpoint(path: str, url: str) -> dict[str, Any]:
        backend = {"host": [vendor], "url_pattern": url, "extra_config": {"ai/llm": llm}}
        backend["extra_config"]["backend/http"] = {"return_error_code": True}
        return {"endpoint": path, "method": "POST", "backend": [backend]}

    extra = {"router": {"return_error_msg": True}, "telemetry/logging": {"level": "DEBUG", "stdout": True}}
    s = await served(
        {"version": 3, "extra_config": extra, "endpoints": [endpoint("/ask", "/v1/x"), endpoint("/no", "/v1/refuse")]}
    )
    answers = []
    for path in ("/ask", "/no"):
        resp = await s.client.post(path, data=orjson.dumps({"contents": "hi"}))
        answers.append((resp.status, await resp.read()))
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    escaped = orjson.dumps(QUOTED_KEY)[1:-1]
    assert escaped != QUOTED_KEY.encode()
    for name, data in {"stdout": out, "refusal": answers[1][1]}.items():
        assert QUOTED_KEY.encode() not in data and escaped not in data, (name, data)
    assert answers[1][0] == 401 and b"Incorrect API key provided: [REDACTED]" in answers[1][1]
    assert out.count(b"ai/llm openai/v1 answer") == 2 and b"you sent [REDACTED]" in out


async def test_the_config_hash_blanks_credentials_held_under_other_names(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Only values at secret-named keys were blanked: an upstream key a martian modifier writes
    (``"value"``), the collector's credential header in the audit sink's ``headers`` and a URL's
    ``?api_key=`` were hashed as written, so a trail reader knowing the rest of the file confirmed a
    guessed one."""
    seen: list[web.Request] = []
    ok = await upstream(recording_app(seen))

    def doc(secret: str, role: str) -> dict[str, Any]:
        martian = {"header.Modifier": {"scope": ["request"], "name": "X-Upstream-Key", "value": secret}}
        audit = {"sink": "http", "url": f"{ok}/audit", "headers": {"Authorization": f"Bearer {secret}"}}
        backend = {"host": [ok], "url_pattern": f"/o?api_key={secret}&page=1"}
        backend["extra_config"] = {"modifier/martian": martian}
        return {
            "version": 3,
            "extra_config": {
                "auth/api-keys": {"keys": [{"key": WEAK_KEY, "roles": [role]}], "identifier": "X-Api-Key"},
                "telemetry/audit": audit,
                "telemetry/access_log": {"stdout": False},
            },
            "endpoints": [
                {"endpoint": "/r", "extra_config": {"auth/api-keys": {"roles": ["reader"]}}, "backend": [backend]}
            ],
        }

    hashes = []
    for secret, role in (("guess-0001", "reader"), ("guess-0002", "reader"), ("guess-0001", "admin")):
        s = await served(doc(secret, role))
        assert (await s.client.get("/r")).status == 401
        await s.gateway.close()  # the trail's last batch delivered
        posted = [request for request in seen if request.path == "/audit"]
        assert posted[-1].headers["Authorization"] == f"Bearer {secret}"
        record = orjson.loads((await posted[-1].read()).splitlines()[0])
        hashes.append(record["policy"]["config_hash"])
    assert hashes[0] == hashes[1] != hashes[2], hashes


def test_a_flexible_configurations_secret_holding_a_quote_is_masked_whole(tmp_path: Path) -> None:
    """A secret holding a ``"`` injected as it is breaks the JSON on its own line, the one the error
    shows: the mask stopped at the secret's quote and the rest of it was printed."""
    template = tmp_path / "krakend.tmpl"
    template.write_text(
        '{"version": 3, "extra_config":\n'
        ' {"auth/api-keys": {"keys": [{"key": "{{ env "TEST_FC_KEY" }}", "roles": ["u"]}]}},\n'
        ' "endpoints": []}\n'
    )
    secret = 'k3y"tail-0f-the-s3cret'
    result = check_config(template, env={"FC_ENABLE": "1", "TEST_FC_KEY": secret})
    printed = result.stdout + result.stderr
    assert result.returncode != 0 and "rendered line 2:" in printed, printed
    assert "tail-0f-the-s3cret" not in printed and "k3y" not in printed, printed
    assert '"key": "[REDACTED]"' in printed
