"""auth/api-keys (EE field names): header and query-string keys, hashes, roles, propagation."""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack
from typing import Any

import pytest

from krakenpy.components.auth.api_keys import COMPONENT
from krakenpy.credentials.apikeys import fnv1_128
from krakenpy.errors import ConfigError, Rejection
from krakenpy.proxy.types import Proxy, Request
from tests.jose.helpers import echo, resources_for, site_for

KEY = "4d2c61e1-34c4-e96c-9456-15bd983c5019"


async def guarded(service: dict[str, Any], endpoint: dict[str, Any]) -> Proxy:
    site = site_for("auth/api-keys", endpoint, service_extra={"auth/api-keys": service})
    async with AsyncExitStack() as stack:
        assert COMPONENT.endpoint is not None
        middleware = await COMPONENT.endpoint(COMPONENT.parse(endpoint, site), site, resources_for(site, stack))
    assert middleware is not None
    return middleware(echo)


def req(headers: dict[str, list[str]] | None = None, query: dict[str, list[str]] | None = None) -> Request:
    return Request(method="GET", path="/x", params={}, headers=headers or {}, query=query or {})


async def test_api_keys_header_roles_and_propagation() -> None:
    service = {"keys": [{"key": KEY, "roles": ["user", "gold"]}], "propagate_role": "x-krakend-role"}
    proxy = await guarded(service, {"roles": ["silver", "gold", "user"]})
    seen = (await proxy(req({"Authorization": [f"Bearer {KEY}"], "X-Krakend-Role": ["admin"]}))).data
    # EE: the first of the endpoint's roles the key has, replacing what the client sent
    assert seen["headers"]["X-Krakend-Role"] == ["gold"]
    assert seen["claims"]["roles"] == ["user", "gold"] and KEY not in str(seen["claims"])
    assert (await proxy(req({"Authorization": [KEY]}))).data
    for headers, status in (({}, 401), ({"Authorization": ["Bearer nope"]}, 401)):
        with pytest.raises(Rejection) as info:
            await proxy(req(headers))
        assert info.value.status == status and info.value.payload == b""
    any_role = await guarded(service, {"roles": []})
    assert (await any_role(req({"Authorization": [KEY]}))).data["headers"]["X-Krakend-Role"] == ["ANY"]
    admin_only = await guarded(service, {"roles": ["admin"]})
    with pytest.raises(Rejection) as info:
        await admin_only(req({"Authorization": [KEY]}))
    assert info.value.status == 403 and info.value.reason == "role_missing"


@pytest.mark.parametrize(
    ("mode", "stored"),
    [
        ("sha256", hashlib.sha256((KEY + "pepper").encode()).hexdigest()),
        ("sha1", hashlib.sha1((KEY + "pepper").encode()).hexdigest()),
        ("fnv128", fnv1_128((KEY + "pepper").encode()).hex()),
    ],
)
async def test_api_keys_hashed_keys_and_query_string(mode: str, stored: str) -> None:
    service = {"keys": [{"key": stored, "roles": ["r"]}], "hash": mode, "salt": "pepper", "strategy": "query_string"}
    proxy = await guarded(service, {"roles": ["r"]})
    seen = (await proxy(req(query={"key": [KEY], "page": ["2"]}))).data
    assert seen["claims"]["roles"] == ["r"]
    with pytest.raises(Rejection):
        await proxy(req(query={"key": [stored]}))  # the digest itself is not a key


def test_api_keys_fnv128_matches_the_reference_vector() -> None:
    assert fnv1_128(b"").hex() == "6c62272e07bb014262b821756295c58d"


def test_api_keys_endpoint_needs_the_service_block() -> None:
    site = site_for("auth/api-keys", {"roles": ["a"]})
    with pytest.raises(ConfigError):
        COMPONENT.parse({"roles": ["a"]}, site)
