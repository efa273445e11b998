"""Secrets that reached an output through the side doors a review of the previous round left open:
the API keys' ``key_id``, MCP argument errors, LLM debug output, JSON-schema over-masking, Lua
``print`` and the components the first canaries did not cover."""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from tests.cli_gateway import check_config, gateway_process
from tests.components.telemetry.conftest import recording_app
from tests.conftest import free_port
from tests.redis_server import redis_server
from tests.telemetry.conftest import served, upstream

__all__ = ["redis_server", "served", "upstream"]

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
    ids come from a random key per process; with it set, nothing is said."""
    config = tmp_path / "krakend.json"
    backend = {"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend)))
    result = check_config(config)
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    assert "no fingerprint_key_env (here or in telemetry/audit)" in printed and "random key per process" in printed
    config.write_bytes(orjson.dumps(_api_keys_doc(8080, backend, fingerprint_key_env="TEST_KEYID_UNSET")))
    result = check_config(config, env={"TEST_KEYID_UNSET": ""})
    assert "environment variable TEST_KEYID_UNSET is not set or empty" in result.stdout + result.stderr
    result = check_config(config, env={"TEST_KEYID_UNSET": "k"})
    assert "fingerprint_key_env" not in result.stdout + result.stderr


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
