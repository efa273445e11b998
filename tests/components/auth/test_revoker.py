"""auth/revoker: the admin listener on its port, the shared filter file, and the validator's 401."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from krakenpy.components.auth import revoker, validator
from krakenpy.components.base import Site
from krakenpy.errors import ConfigError, Rejection
from krakenpy.jose.bloom import RotatingBloom
from tests.conftest import free_port
from tests.jose.helpers import claims, echo, mint, new_key, public_jwk, request, resources_for, site_for


async def test_revoker_admin_api_revokes_a_jti_and_the_validator_answers_401(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_REVOKER_KEY", "admin-secret")
    key = new_key("HS256", "k")
    jwk = tmp_path / "jwk.json"
    jwk.write_bytes(orjson.dumps({"keys": [public_jwk(key)]}))
    port = free_port()
    value: dict[str, Any] = {"alg": "HS256", "jwk_local_path": str(jwk)}
    rev = {"N": 1000, "P": 1e-6, "TTL": 60, "port": port, "hash_name": "optimal", "token_keys": ["jti", "sub"]}
    rev |= {"admin_key_env": "TEST_REVOKER_KEY", "store_path": str(tmp_path / "bloom")}
    site = site_for("auth/validator", value, service_extra={"auth/revoker": rev})
    async with AsyncExitStack() as stack:
        resources = resources_for(site, stack)
        service_site = Site("service", "extra_config.auth/revoker", site.service)
        assert revoker.COMPONENT.edge is not None and validator.COMPONENT.endpoint is not None
        middleware = await validator.COMPONENT.endpoint(validator.COMPONENT.parse(value, site), site, resources)
        await revoker.COMPONENT.edge(revoker.COMPONENT.parse(rev, service_site), service_site, resources)
        assert middleware is not None
        proxy = middleware(echo)
        token = mint(key, claims(jti="j-1"), alg="HS256")
        headers = {"Authorization": [f"Bearer {token}"]}
        assert (await proxy(request(headers))).data
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}"
            async with session.post(url + "/revoke", json={"elements": ["jti-j-1"]}) as resp:
                assert resp.status == 401  # no admin key
            auth = {"Authorization": "Bearer admin-secret"}
            async with session.post(url + "/revoke", json={"elements": ["jti-j-1"]}, headers=auth) as resp:
                assert resp.status == 200 and await resp.json() == {"added": 1}
            async with session.post(url + "/check", json={"elements": ["jti-j-1", "jti-x"]}, headers=auth) as resp:
                assert await resp.json() == {"revoked": [True, False]}
            async with session.post(url + "/check", data=b"nope", headers=auth) as resp:
                assert resp.status == 400
        with pytest.raises(Rejection) as info:
            await proxy(request(headers))  # the verified-token cache does not skip revocation
        assert info.value.status == 401 and info.value.reason == "revoked"
        other = mint(key, claims(jti="j-2"), alg="HS256")
        assert (await proxy(request({"Authorization": [f"Bearer {other}"]}))).data


def test_revoker_bloom_entries_live_between_two_and_three_ttl(tmp_path: Path) -> None:
    now = [100.0]
    bloom = RotatingBloom(tmp_path / "f", capacity=100, false_positive=1e-6, ttl=10, clock=lambda: now[0])
    bloom.add(["jti-a"])
    seen = []
    for t in (100, 109, 115, 125, 129.9, 130, 145):
        now[0] = t
        seen.append(bloom.check("jti-a"))
    assert seen == [True, True, True, True, True, False, False]
    # a second process opening the same file sees the same entries
    bloom.add(["jti-b"])
    other = RotatingBloom(tmp_path / "f", capacity=100, false_positive=1e-6, ttl=10, clock=lambda: now[0])
    assert other.check("jti-b") and not other.check("jti-c")
    bloom.close()
    other.close()


def test_revoker_parse_checks_fields() -> None:
    site = Site("service", "extra_config.auth/revoker", site_for("auth/validator", {}).service)
    with pytest.raises(ConfigError) as info:
        revoker.COMPONENT.parse({"N": 0, "P": 2, "TTL": 0, "port": 0, "token_keys": []}, site)
    assert {i.path.rsplit(".", 1)[-1] for i in info.value.issues} == {"N", "P", "TTL", "port", "token_keys"}
    options = revoker.COMPONENT.parse({"n": 10, "p": 0.1, "ttl": 5, "PORT": 1234, "token_keys": ["jti"]}, site)
    assert options.capacity == 10 and options.port == 1234


def test_revoker_unknown_hash_name_is_a_config_error_at_its_path() -> None:
    """KrakenD panics on a hash_name its map lacks; the Python API path (no schema) refuses it too."""
    from krakenpy.components.auth.revoker import parse
    from krakenpy.components.base import Site
    from krakenpy.config.build import build_service
    from krakenpy.errors import ConfigError

    raw = {"N": 100, "P": 0.01, "TTL": 60, "port": 1234, "token_keys": ["jti"], "hash_name": "secure"}
    with pytest.raises(ConfigError) as caught:
        parse(raw, Site(level="service", path="extra_config.auth/revoker", service=build_service({"version": 3})))
    assert [i.path for i in caught.value.issues] == ["extra_config.auth/revoker.hash_name"]
