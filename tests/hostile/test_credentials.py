"""Hostile bytes in credentials and client identities: every place a guard or the telemetry reads a
client value (header, query, cookie) answers 4xx or lets the request pass, never a 5xx or a traceback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.jose.helpers import public_jwk, rsa_key
from tests.redis_server import RedisServer
from tests.redis_server import redis_server as redis_server  # the fixture
from tests.server.wirekit import RawBackend, Start, get, raw_request, reply

#: (raw header bytes as a latin-1 str, the same bytes percent-encoded for a query or a path)
VALUES = {
    "ff": ("\xff", "%ff"),
    "fffe": ("\xff\xfe", "%ff%fe"),
    "e-acute": ("\xc3\xa9", "%C3%A9"),  # valid UTF-8 that is not ASCII
}
_KEYS = {"keys": [{"key": "k-1", "roles": ["user"]}]}


def _cases(jwks: str) -> dict[str, tuple[dict[str, Any], dict[str, Any], str, tuple[str, ...], str]]:
    """case → (service extra_config, endpoint extra_config, target, header lines, expectation); ``{v}``
    is the raw value, ``{q}`` its percent-encoded form; expectation ``4xx``, ``pass`` (200) or ``any`` of them."""
    validator = {"alg": "RS256", "jwk_local_path": jwks, "disable_jwk_security": True}
    limit = {"client_max_rate": 100, "client_capacity": 100, "strategy": "header", "key": "X-Client"}
    return {
        "api-keys header": ({"auth/api-keys": _KEYS | {"identifier": "X-Api-Key"}},
                            {"auth/api-keys": {"roles": ["user"]}}, "/e", ("X-Api-Key: {v}",), "4xx"),
        "api-keys bearer": ({"auth/api-keys": _KEYS}, {"auth/api-keys": {"roles": ["user"]}}, "/e",
                            ("Authorization: Bearer {v}",), "4xx"),
        "api-keys query": ({"auth/api-keys": _KEYS | {"strategy": "query_string"}},
                           {"auth/api-keys": {"roles": ["user"]}}, "/e?key={q}", (), "4xx"),
        "api-keys query fnv128": ({"auth/api-keys": _KEYS | {"strategy": "query_string", "hash": "fnv128"}},
                                  {"auth/api-keys": {"roles": ["user"]}}, "/e?key={q}", (), "4xx"),
        "basic": ({"auth/basic": {"users": {"bob": "pw"}}}, {"auth/basic": {}}, "/e",
                  ("Authorization: Basic {v}",), "4xx"),
        "basic base64 of bytes": ({"auth/basic": {"users": {"bob": "pw"}}}, {"auth/basic": {}}, "/e",
                                  ("Authorization: Basic Ym9iOv/+",), "4xx"),  # "bob:\xff\xfe"
        "jwt bearer": ({}, {"auth/validator": validator}, "/e", ("Authorization: Bearer {v}",), "4xx"),
        "jwt shaped": ({}, {"auth/validator": validator}, "/e", ("Authorization: Bearer {v}.{v}.{v}",), "4xx"),
        "jwt cookie": ({}, {"auth/validator": validator | {"cookie_key": "session"}}, "/e",
                       ("Cookie: session={v}.{v}.{v}",), "4xx"),
        "jwt custom header": ({}, {"auth/validator": validator | {"auth_header_name": "X-Token"}}, "/e",
                              ("X-Token: Bearer {v}",), "4xx"),
        "ratelimit header": ({}, {"qos/ratelimit/router": limit}, "/e", ("X-Client: {v}",), "pass"),
        "ratelimit param": ({}, {"qos/ratelimit/router": limit | {"strategy": "param", "key": "id"}},
                            "/p/{q}", (), "any"),  # a param that is not UTF-8 is a 400 (docs/wire.md)
        "ratelimit ip header": ({}, {"qos/ratelimit/router": limit | {"strategy": "ip", "key": "X-Real-Ip"}},
                                "/e", ("X-Real-Ip: {v}",), "pass"),
        "tiered": ({}, {"qos/ratelimit/tiered": {"tier_key": "X-Tier", "tiers": [
                       {"tier_value": "value.startsWith('g')", "tier_value_as": "policy", "ratelimit": limit}]}},
                   "/e", ("X-Tier: {v}", "X-Client: {v}"), "pass"),
        "bot detector": ({"security/bot-detector": {"deny": ["x"], "patterns": ["^curl"]}}, {}, "/e",
                         ("User-Agent: {v}",), "pass"),
        "cel header": ({}, {"validation/cel": [{"check_expr": "req_headers['X-Client'][0] != 'no'"}]}, "/e",
                       ("X-Client: {v}",), "pass"),
        "audit authorization": ({"telemetry/audit": {"sink": "stdout", "sensitive": True}}, {}, "/e",
                                ("Authorization: {v}",), "pass"),
        "audit basic": ({"telemetry/audit": {"sink": "stdout"}, "auth/basic": {"users": {"bob": "pw"}}},
                        {"auth/basic": {}}, "/e", ("Authorization: Basic {v}",), "4xx"),
        "audit api-keys query": ({"telemetry/audit": {"sink": "stdout"},
                                  "auth/api-keys": _KEYS | {"strategy": "query_string"}},
                                 {"auth/api-keys": {"roles": ["user"]}}, "/e?key={q}", ("Authorization: {v}",), "4xx"),
    }  # fmt: skip


def _doc(backend: str, service: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    endpoints = [
        {"endpoint": path, "input_headers": ["*"], "extra_config": endpoint,
         "backend": [{"host": [backend], "url_pattern": "/"}]}
        for path in ("/e", "/p/{id}")
    ]  # fmt: skip
    return {"version": 3, "extra_config": service, "endpoints": endpoints}


@pytest.fixture
def jwks(tmp_path: Path) -> str:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [public_jwk(rsa_key("k1"))]}))
    return str(path)


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize("case", sorted(_cases("")))
async def test_credentials_hostile_bytes_answer_4xx_or_pass(
    raw_backend: Any, serve: Start, jwks: str, caplog: pytest.LogCaptureFixture, case: str, value: str
) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    service, endpoint, target, headers, expected = _cases(jwks)[case]
    served = await serve(_doc(backend.url, service, endpoint))
    raw, quoted = VALUES[value]
    lines = [h.format(v=raw, q=quoted) for h in headers]
    with caplog.at_level(logging.INFO):
        head = await raw_request(served.port, get(target.format(v=raw, q=quoted), *lines))
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    if expected == "pass":
        assert head.status == 200, head
    elif expected == "4xx":
        assert 400 <= head.status < 500, head
    else:
        assert head.status == 200 or 400 <= head.status < 500, head


@pytest.mark.parametrize("value", sorted(VALUES))
async def test_credentials_redis_limit_names_hostile_clients(
    raw_backend: Any, serve: Start, redis_server: RedisServer, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    # a long timeout: on a busy host the first call (connect, script load) took 140 ms, over the
    # default 100 ms, and the store was taken as down; this test is about the names, not the timeout
    limit = {"connection_name": "r", "client_max_rate": 1, "client_capacity": 1, "every": "1h",
             "strategy": "header", "key": "X-Client", "timeout": "5s"}  # fmt: skip
    service = {"redis": {"connection_pools": [{"name": "r", "address": redis_server.address}]}}
    served = await serve(_doc(backend.url, service, {"qos/ratelimit/router/redis": limit}))
    raw, _ = VALUES[value]
    first = await raw_request(served.port, get("/e", f"X-Client: {raw}"))
    second = await raw_request(served.port, get("/e", f"X-Client: {raw}"))
    other = await raw_request(served.port, get("/e", "X-Client: someone-else"))
    assert (first.status, second.status, other.status) == (200, 429, 200)
    assert not [r for r in caplog.records if r.exc_info]
