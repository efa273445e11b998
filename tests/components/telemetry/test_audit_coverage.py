"""Every guard decision the README's audit trail promises, through the assembled gateway: exactly one
record per decision (edge guards included), allows on sensitive routes, the final status in each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from krakenpy.telemetry.audit import verify_chain
from tests.components.telemetry.conftest import recording_app
from tests.jose.helpers import mint, public_jwk, rsa_key

_LIMIT = {"client_max_rate": 1, "client_capacity": 1, "every": "1h", "strategy": "header", "key": "X-Client"}


def _doc(base: str, audit_file: Path, jwks: Path) -> dict[str, Any]:
    def ep(
        path: str, extra: dict[str, Any], method: str = "GET", backend: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        back = {"host": [base], "url_pattern": "/b"} | (backend or {})
        return {"endpoint": path, "method": method, "extra_config": extra, "backend": [back]}

    validator = {"alg": "RS256", "jwk_local_path": str(jwks), "disable_jwk_security": True}
    return {
        "version": 3,
        "extra_config": {
            "telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True},
            "auth/api-keys": {"keys": [{"key": "k-1", "roles": ["user"]}], "identifier": "X-Key"},
            "auth/basic": {"users": {"bob": "pw"}},
            "security/bot-detector": {"deny": ["evilbot"]},
            "validation/json-schema-errors": {"status": 422},  # service level: outside each endpoint's layer
        },
        "endpoints": [
            ep("/key", {"auth/api-keys": {"roles": ["user"]}}),
            ep("/basic", {"auth/basic": {}}),
            ep("/jwt", {"auth/validator": validator, "validation/cel": [{"check_expr": "JWT.sub == 'ada'"}]}),
            ep("/schema", {"validation/json-schema": {"type": "object", "required": ["a"]}}, method="POST"),
            ep("/cel/{id}", {"validation/cel": [{"check_expr": "req_params.Id != 'no'"}]}),
            ep("/bcel", {}, backend={"extra_config": {"validation/cel": [{"check_expr": "req_path == '/x'"}]}}),
            ep("/rl", {"qos/ratelimit/router": _LIMIT}),
            ep("/bot", {"security/bot-detector": {"deny": ["endpointbot"]}}),
            ep("/lua", {"modifier/lua-proxy": {"pre": "custom_error('no', 403)"}}),
            ep("/open", {}),
        ],
    }


async def test_audit_every_promised_decision_once(served: Any, upstream: Any, tmp_path: Path) -> None:
    base = await upstream(recording_app([]))
    audit_file, jwks = tmp_path / "audit.log", tmp_path / "jwks.json"
    jwks.write_bytes(orjson.dumps({"keys": [public_jwk(rsa_key("k1"))]}))
    s = await served(_doc(base, audit_file, jwks))
    now = int(time.time())
    ada = mint(rsa_key("k1"), {"sub": "ada", "iat": now, "exp": now + 600}, alg="RS256")
    eve = mint(rsa_key("k1"), {"sub": "eve", "iat": now, "exp": now + 600}, alg="RS256")
    get, post = s.client.get, s.client.post
    calls = [
        (get("/key", headers={"X-Key": "k-1"}), 200),
        (get("/key"), 401),
        (get("/key", headers={"X-Key": "k-unknown"}), 401),
        (get("/basic", headers={"Authorization": "Basic Ym9iOndyb25n"}), 401),  # bob:wrong
        (get("/basic", headers={"Authorization": "Basic Ym9iOnB3"}), 200),  # bob:pw
        (get("/jwt", headers={"Authorization": f"Bearer {ada}"}), 200),
        (get("/jwt", headers={"Authorization": f"Bearer {eve}"}), 401),  # the CEL JWT rejecter
        (post("/schema", data=b'{"b": "CANARY-BODY"}'), 422),
        (get("/cel/no"), 500),
        (get("/bcel"), 500),
        (get("/rl", headers={"X-Client": "c"}), 200),
        (get("/rl", headers={"X-Client": "c"}), 429),
        (get("/open", headers={"User-Agent": "evilbot"}), 403),  # the service bot detector, at the edge
        (get("/nowhere", headers={"User-Agent": "evilbot"}), 403),  # before routing, too
        (get("/bot", headers={"User-Agent": "endpointbot"}), 403),
        (get("/lua"), 403),
    ]
    statuses = []
    for call, _ in calls:
        response = await call
        statuses.append(response.status)
    assert statuses == [status for _, status in calls]
    await s.gateway.close()
    lines = audit_file.read_bytes().splitlines()
    assert verify_chain(lines) and b"CANARY-BODY" not in audit_file.read_bytes()
    got = [
        (r["request"]["path"], r["decision"], r["policy"]["type"], r["reason"], r["response"]["status"])
        for r in map(orjson.loads, lines)
    ]
    assert got == [
        ("/key", "allow", "auth/api-keys", "allowed", 200),
        ("/key", "deny", "auth/api-keys", "no_credentials", 401),
        ("/key", "deny", "auth/api-keys", "credentials_invalid", 401),
        ("/basic", "deny", "auth/basic", "credentials_invalid", 401),
        ("/basic", "allow", "auth/basic", "allowed", 200),
        ("/jwt", "allow", "auth/validator", "allowed", 200),
        ("/jwt", "allow", "auth/validator", "allowed", 401),  # the token was valid; CEL then said no
        ("/jwt", "deny", "validation/cel", "cel_false", 401),
        ("/schema", "deny", "validation/json-schema", "schema_invalid", 422),
        ("/cel/no", "deny", "validation/cel", "cel_false", 500),
        ("/bcel", "deny", "validation/cel", "cel_false", 500),
        ("/rl", "deny", "qos/ratelimit/router", "rate_limited", 429),
        ("/open", "deny", "security/bot-detector", "bot_detected", 403),
        ("/nowhere", "deny", "security/bot-detector", "bot_detected", 403),
        ("/bot", "deny", "security/bot-detector", "bot_detected", 403),
        ("/lua", "deny", "modifier/lua-proxy", "lua_custom_error", 403),
    ]
    records = [orjson.loads(line) for line in lines]
    assert records[0]["subject"]["key_id"] and records[4]["subject"]["sub"] == "bob"
    # a credential that was sent but is not known is not a missing one (OWASP's two events)
    assert [r["event"] for r in records[1:4]] == ["authn_token_missing", "authn_token_invalid", "authn_token_invalid"]
    assert records[8]["reason_detail"] == "1 violation(s), first at '' (required)"
    assert records[12]["policy"]["id"] == "GET *#security/bot-detector"
