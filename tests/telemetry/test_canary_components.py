"""A secret canary against the components' own error and rejection texts (an adversarial review of
what each component says when it refuses or fails a request): the canary reaches no output."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from redis.asyncio import Redis

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.redis_server import redis_server

__all__ = ["redis_server"]

CANARY = "c4n4ry-5e1d0b7a"
#: a body field the default body paths mask, failing the schema's type check
PASSWORD_SCHEMA = {"type": "object", "properties": {"password": {"type": "integer"}}}


def _echo() -> web.Application:
    """A backend that refuses every request with a 400 quoting the body and the API key it got (its
    own business)."""

    async def handle(request: web.Request) -> web.Response:
        got = {"got": (await request.read()).decode(), "key": request.headers.get("X-Api-Key", "")}
        return web.json_response({"error": "refused", **got}, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _otlp(port: int) -> dict[str, Any]:
    return {
        "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": port, "use_http": True}]},
        "layers": {"backend": {"traces": {"round_trip": True}}},
    }


def _every_output(port: int) -> dict[str, Any]:
    """The service's outputs a failure's text reaches: the client's answer, the DEBUG app log, the
    JSON access log and OTLP spans to the receiver on ``port``."""
    return {
        "router": {"return_error_msg": True},
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/access_log": {"format": "json"},
        "telemetry/opentelemetry": _otlp(port),
    }


async def test_span_status_messages_follow_the_failure_text_rules(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """A span's status message is an output too: a backend's error body (``return_error_code``: the
    error's message *is* the body, here echoing the client's password) is not written there, as it is
    not in the failure log line."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    echo = await upstream(_echo())
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "router": {"return_error_msg": True},
                "telemetry/opentelemetry": _otlp(port),
                "telemetry/access_log": {"stdout": False},
            },
            "endpoints": [
                {
                    "endpoint": "/code",
                    "method": "POST",
                    "backend": [
                        {
                            "host": [echo],
                            "url_pattern": "/e",
                            "extra_config": {"backend/http": {"return_error_code": True}},
                        }
                    ],
                },
            ],
        }
    )
    body = orjson.dumps({"user": "ada", "password": CANARY})
    resp = await s.client.post("/code", data=body, headers={"Content-Type": "application/json"})
    # the client gets the backend's own answer back, as KrakenD passes it (the boundary: not an output)
    assert resp.status == 400 and CANARY in (await resp.text())
    await s.gateway.resources.state[EXPORTER].flush()
    otlp = b"\n".join(receiver.bodies)
    assert CANARY.encode() not in otlp
    assert otlp.count(b"invalid status code 400") >= 2  # the backend and proxy spans' status messages


async def test_a_schema_rejection_never_quotes_a_masked_field(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """``validation/json-schema``'s 400 (with ``return_error_msg``) and the JSON details of
    ``validation/json-schema-errors`` (always public) quoted the value of a field the body paths mask
    (``"<password>" is not of type "integer"``): they name the place and keyword instead; another
    field's violation keeps the validator's message."""
    ok = await upstream(_echo())
    schema = {**PASSWORD_SCHEMA, "properties": {**PASSWORD_SCHEMA["properties"], "age": {"minimum": 0}}}

    def endpoint(path: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "endpoint": path,
            "method": "POST",
            "extra_config": {"validation/json-schema": schema, **extra},
            "backend": [{"host": [ok], "url_pattern": "/o"}],
        }

    s = await served(
        {
            "version": 3,
            "extra_config": {"router": {"return_error_msg": True}, "telemetry/access_log": {"stdout": False}},
            "endpoints": [
                endpoint("/plain", {}),
                endpoint("/detailed", {"validation/json-schema-errors": {}}),
            ],
        }
    )
    body = orjson.dumps({"password": CANARY, "age": -4})
    plain = await s.client.post("/plain", data=body)
    detailed = await s.client.post("/detailed", data=body)
    assert (plain.status, detailed.status) == (400, 400)
    text, details = await plain.text(), await detailed.json()
    assert CANARY not in text and CANARY not in orjson.dumps(details).decode()
    assert "- at '/password': type violated (value redacted)" in text
    assert "- at '/age': -4 is less than the minimum of 0" in text
    assert {v["instance_path"]: v["message"] for v in details["details"]} == {
        "/password": "type violated (value redacted)",
        "/age": "-4 is less than the minimum of 0",
    }


def _failing_function(style: str) -> web.Application:
    """The Lambda Invoke API (an AWS endpoint on 127.0.0.1): every function fails with an error
    message printing the event it got, as a Node.js (``JSON.stringify``) or Python (``str``) function
    would."""

    async def invoke(request: web.Request) -> web.Response:
        event = orjson.loads(await request.read())
        printed = orjson.dumps(event).decode() if style == "node" else str(event)
        payload = {"errorType": "Error", "errorMessage": f"cannot handle {printed}"}
        headers = {"X-Amz-Function-Error": "Unhandled"}
        return web.Response(body=orjson.dumps(payload), headers=headers, content_type="application/json")

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    return app


async def test_a_function_error_printing_its_event_keeps_the_body_secrets(  # type: ignore[no-untyped-def]
    served, upstream, capfd, monkeypatch
) -> None:
    """A Lambda function's error message printing its event: an API Gateway event's ``body`` is a
    JSON text inside a string (``\\"password\\":\\"…\\"``), a Python function prints a dict
    (``'password': '…'``); neither form was masked in the app log's warning and failure lines, the
    access log's error, the spans and the ``return_error_msg`` answer."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    node, python = await upstream(_failing_function("node")), await upstream(_failing_function("python"))

    def endpoint(path: str, aws: str, payload: str) -> dict[str, Any]:
        function = {"function_name": "f", "region": "us-east-1", "endpoint": aws, "payload": payload}
        return {"endpoint": path, "method": "POST", "backend": [{"extra_config": {"backend/lambda": function}}]}

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [endpoint("/node", node, "apigw_v1"), endpoint("/python", python, "body")],
        }
    )
    body = orjson.dumps({"user": "ada", "password": CANARY})
    answers = []
    for path in ("/node", "/python"):
        resp = await s.client.post(path, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 502
        answers.append(await resp.read())
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "answers": b"\n".join(answers), "otlp": b"\n".join(receiver.bodies)}
    assert {name: data.count(CANARY.encode()) for name, data in outputs.items() if CANARY.encode() in data} == {}
    # each form was written, masked
    assert b'\\"password\\":\\"[REDACTED]\\"' in answers[0] and b"'password': '[REDACTED]'" in answers[1]
    assert b"WARNING" in out and b"function error" in out and b"'password': '[REDACTED]'" in outputs["otlp"]


async def test_the_signers_audit_detail_is_never_a_backend_body(served, upstream, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``auth/signer`` turns a failed backend into a 400 whose audit ``reason_detail`` (and DEBUG
    line) was the error's text: with ``return_error_code``, the backend's whole answer body, here
    quoting the client's API key."""
    secret = base64.urlsafe_b64encode(b"a-32-byte-secret-for-hmac-sha256").rstrip(b"=").decode()
    jwk, audit_file = tmp_path / "jwk.json", tmp_path / "audit.log"
    jwk.write_bytes(orjson.dumps({"keys": [{"kty": "oct", "kid": "s1", "k": secret, "alg": "HS256"}]}))
    signer = {"alg": "HS256", "kid": "s1", "keys_to_sign": ["access_token"], "jwk_local_path": str(jwk)}
    echo = await upstream(_echo())
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/logging": {"level": "DEBUG", "stdout": True},
                "telemetry/audit": {"sink": "file", "path": str(audit_file)},
            },
            "endpoints": [
                {
                    "endpoint": "/login",
                    "method": "POST",
                    "input_headers": ["X-Api-Key"],
                    "extra_config": {"auth/signer": {**signer, "disable_jwk_security": True}},
                    "backend": [
                        {
                            "host": [echo],
                            "url_pattern": "/e",
                            "extra_config": {"backend/http": {"return_error_code": True}},
                        }
                    ],
                }
            ],
        }
    )
    resp = await s.client.post("/login", data=orjson.dumps({"user": "ada"}), headers={"X-Api-Key": CANARY})
    assert resp.status == 400
    await s.gateway.close()  # the audit queue drained to its file
    out = capfd.readouterr().out
    records = [orjson.loads(line) for line in audit_file.read_bytes().splitlines()]
    assert CANARY not in out and CANARY.encode() not in audit_file.read_bytes()
    assert [(r["policy"]["type"], r["reason_detail"]) for r in records] == [("auth/signer", "invalid status code 400")]
    assert "signer: proxy error: invalid status code 400" in out


async def test_a_script_quoting_a_body_field_keeps_it_secret(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """A Lua script that refuses a weak password quoting it (``error`` or ``custom_error`` with
    ``body.password``): the value, read from the body by the script, bore no mark of a secret in the
    text, and reached the failure log line, the access log's error, the spans and the client's
    answer. A failure hands the request's body over: its masked fields' values are masked as the
    request's credentials are."""
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(_echo())
    check = "local r = request.load(); local b = json.decode(r:body()); "
    form = "local r = request.load(); error('weak password ' .. r:body():match('password=([^&]*)'))"

    def endpoint(path: str, script: str) -> dict[str, Any]:
        return {
            "endpoint": path,
            "method": "POST",
            "extra_config": {"modifier/lua-proxy": {"pre": check + script}},
            "backend": [{"host": [ok], "url_pattern": "/o"}],
        }

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [
                endpoint("/error", "error('weak password ' .. b.password)"),
                endpoint("/custom", "custom_error('weak password ' .. b.password, 422)"),
                endpoint("/nested", "error('weak key ' .. b.creds.api_key)"),
                {**endpoint("/form", ""), "extra_config": {"modifier/lua-proxy": {"pre": form}}},
            ],
        }
    )
    answers = []
    for path, body in [
        ("/error", {"password": CANARY}),
        ("/custom", {"password": CANARY}),
        ("/nested", {"creds": {"api_key": CANARY}}),
        ("/form", f"user=ada&password={CANARY}"),
    ]:
        data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        resp = await s.client.post(path, data=data, headers={"Content-Type": "application/json"})
        answers.append((resp.status, await resp.text()))
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "answers": repr(answers).encode(), "otlp": b"\n".join(receiver.bodies)}
    assert {name: data.count(CANARY.encode()) for name, data in outputs.items() if CANARY.encode() in data} == {}
    assert answers == [
        (500, "weak password [REDACTED] (pre-script:L1)"),
        (422, "weak password [REDACTED]"),
        (500, "weak key [REDACTED] (pre-script:L1)"),
        (500, "weak password [REDACTED] (pre-script:L1)"),  # a form body: its sensitive keys' values
    ]
    assert out.count(b"[Lua] weak password [REDACTED]") >= 4  # the failure lines and the access log's errors
    assert outputs["otlp"].count(b"weak password [REDACTED]") >= 2


async def test_a_rate_limit_keyed_by_a_credential_header_hashes_it_in_redis(served, upstream, redis_server) -> None:  # type: ignore[no-untyped-def]
    """``qos/ratelimit/router/redis`` with ``strategy: header`` and ``key: Authorization``: each
    client's bucket was a Redis key named by the token itself (``KEYS``, ``MONITOR``, the slow log
    and a Redis dump showed every bearer token); a credential header's value is hashed into the key
    name (a header that is no credential keeps its readable name, as KrakenD writes it)."""
    ok = await upstream(recording_app([]))

    def endpoint(path: str, key: str) -> dict[str, Any]:
        limit = {"connection_name": "r", "client_max_rate": 1, "every": "1h", "strategy": "header", "key": key}
        return {
            "endpoint": path,
            "extra_config": {"qos/ratelimit/router/redis": limit},
            "backend": [{"host": [ok], "url_pattern": "/o"}],
        }

    s = await served(
        {
            "version": 3,
            "extra_config": {"redis": {"connection_pools": [{"name": "r", "address": redis_server.address}]}},
            "endpoints": [endpoint("/token", "Authorization"), endpoint("/user", "X-User")],
        }
    )
    statuses = []
    for path, headers in [("/token", {"Authorization": f"Bearer {CANARY}"}), ("/user", {"X-User": "ada-lovelace"})]:
        for _ in range(2):
            statuses.append((await s.client.get(path, headers=headers)).status)
    assert statuses == [200, 429, 200, 429]
    client = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        names = sorted(await client.keys("*"))
    finally:
        await client.aclose()
    assert len(names) == 2 and not any(CANARY.encode() in name for name in names)
    assert any(name.endswith(b":c:ada-lovelace") for name in names)


def test_check_never_quotes_a_secret_config_value(tmp_path: Path) -> None:
    """``krakenpy check`` (CI logs): a schema error at a secret's key quoted the value
    (``…client_secret: 31415926 is not of type 'string'``: a numeric password or PIN written as a
    JSON number); it names the place and the rule, and another key's error keeps its value."""
    numbers = {"secret": 31415926, "redis": 27182818, "key": 16180339, "user": 14142135, "hash": 17320508}
    config = tmp_path / "krakend.json"
    client_credentials = {"client_id": "id", "client_secret": numbers["secret"], "token_url": "http://127.0.0.1:1/t"}
    backend = {"host": ["http://127.0.0.1:1"], "url_pattern": "/y"}
    config.write_bytes(
        orjson.dumps(
            {
                "version": 3,
                "extra_config": {
                    "auth/api-keys": {"keys": [{"key": numbers["key"], "roles": ["u"]}], "hash": "nope"},
                    "auth/basic": {"users": {"ada": numbers["user"]}},
                    "redis": {"connection_pools": [{"name": "r", "address": "h:6379", "password": numbers["redis"]}]},
                    "telemetry/access_log": {"redact": {"hash_key": numbers["hash"]}},
                },
                "endpoints": [
                    {
                        "endpoint": "/x",
                        "backend": [{**backend, "extra_config": {"auth/client-credentials": client_credentials}}],
                    }
                ],
            }
        )
    )
    result = check_config(config)
    assert result.returncode == 1
    printed = result.stdout + result.stderr
    assert [str(n) for n in numbers.values() if str(n) in printed] == []
    assert printed.count("(value redacted) is not of type 'string'") == 5
    assert "auth/api-keys.hash: 'nope' is not one of" in printed


async def test_a_quota_keyed_by_a_credential_header_hashes_it_in_redis(served, upstream, redis_server) -> None:  # type: ignore[no-untyped-def]
    """``governance/quota`` with a tier whose caller ``key`` is ``Authorization``: its counters were
    named by the token (``hash_keys`` is off by default, as in KrakenD Enterprise); a credential
    header's value is hashed whatever ``hash_keys`` says, another header keeps its readable name."""
    ok = await upstream(recording_app([]))
    rules = [{"name": "r", "limits": [{"amount": 1, "unit": "day"}]}]
    tiers = [
        {"rule_name": "r", "key": "Authorization", "strategy": "header", "tier_value": "token"},
        {"rule_name": "r", "key": "X-User", "strategy": "header", "tier_value": "user"},
    ]
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "redis": {"connection_pools": [{"name": "r", "address": redis_server.address}]},
                "governance/processors": {"quotas": [{"name": "q", "connection_name": "r", "rules": rules}]},
            },
            "endpoints": [
                {
                    "endpoint": "/q",
                    "extra_config": {"governance/quota": {"quota_name": "q", "tier_key": "X-Tier", "tiers": tiers}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                }
            ],
        }
    )
    statuses = []
    for headers in [{"X-Tier": "token", "Authorization": f"Bearer {CANARY}"}, {"X-Tier": "user", "X-User": "ada-l"}]:
        for _ in range(2):
            statuses.append((await s.client.get("/q", headers=headers)).status)
    assert statuses == [200, 429, 200, 429]
    client = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        names = sorted(await client.keys("*"))
    finally:
        await client.aclose()
    assert names and not any(CANARY.encode() in name for name in names)
    assert any(name.endswith(b":ada-l") for name in names) and any(b":#" in name for name in names)
