"""auth/signer: Go-compatible payloads, compact and full serialisations, 400 on errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
from joserfc import jws
from joserfc.jwk import OctKey

from krakenpy.components.auth.signer import COMPONENT
from krakenpy.errors import BackendError, ConfigError, Rejection
from krakenpy.proxy.types import Proxy, Request, Response
from tests.jose.helpers import request, resources_for, rsa_key, site_for

SECRET = b"a-32-byte-secret-for-hmac-sha256"
DATA = {"access_token": {"sub": "1", "exp": 1735689600, "aud": "<a&b>"}, "refresh_token": "already", "other": {"x": 1}}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def signed(tmp_path: Path, value: dict[str, Any], backend: Proxy, keys: list[dict[str, Any]]) -> Response:
    path = tmp_path / "jwk.json"
    path.write_bytes(orjson.dumps({"keys": keys}))
    value = {"jwk_local_path": str(path), "disable_jwk_security": True, **value}
    site = site_for("auth/signer", value)
    async with AsyncExitStack() as stack:
        assert COMPONENT.endpoint is not None
        middleware = await COMPONENT.endpoint(COMPONENT.parse(value, site), site, resources_for(site, stack))
        assert middleware is not None
        return await middleware(backend)(request())


async def backend_ok(req: Request) -> Response:
    return Response(data=DATA, status=201, headers={"X-Upstream": ["a", "b"]})


async def test_signer_hs256_is_byte_exact_with_go_json(tmp_path: Path) -> None:
    jwk = {"kty": "oct", "kid": "sim2", "k": b64(SECRET), "alg": "HS256"}
    value = {"alg": "HS256", "kid": "sim2", "keys_to_sign": ["access_token", "refresh_token", "missing"]}
    response = await signed(tmp_path, value, backend_ok, [jwk])
    header = b64(b'{"alg":"HS256","kid":"sim2","typ":"JWT"}')
    payload = b64(b'{"aud":"\\u003ca\\u0026b\\u003e","exp":1735689600,"sub":"1"}')
    signature = b64(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert response.data["access_token"] == f"{header}.{payload}.{signature}"
    assert response.data["refresh_token"] == "already" and response.data["other"] == {"x": 1}
    assert response.override_status == 201 and response.override_headers == {"X-Upstream": ["a"]}
    assert response.content_type == "application/json; charset=utf-8"
    assert response.body == orjson.dumps(response.data, option=orjson.OPT_SORT_KEYS)


async def test_signer_rs256_full_serialisation_verifies(tmp_path: Path) -> None:
    key = rsa_key("signing")
    value = {"alg": "RS256", "kid": "signing", "keys_to_sign": ["access_token"], "full": True}
    response = await signed(tmp_path, value, backend_ok, [dict(key.as_dict(private=True))])
    full = orjson.loads(response.data["access_token"])
    assert sorted(full) == ["payload", "protected", "signature"]
    token = f"{full['protected']}.{full['payload']}.{full['signature']}"
    public = type(key).import_key(key.as_dict(private=False))
    assert orjson.loads(jws.deserialize_compact(token, public, algorithms=["RS256"]).payload)["sub"] == "1"


async def test_signer_proxy_error_is_400_empty(tmp_path: Path) -> None:
    async def failing(req: Request) -> Response:
        raise BackendError("invalid status code 401", status=401)

    jwk = {"kty": "oct", "kid": "sim2", "k": b64(SECRET)}
    with pytest.raises(Rejection) as info:
        await signed(tmp_path, {"alg": "HS256", "kid": "sim2", "keys_to_sign": ["access_token"]}, failing, [jwk])
    assert info.value.status == 400 and info.value.payload == b""


async def test_signer_without_its_private_key_answers_401(tmp_path: Path) -> None:
    public = dict(rsa_key("signing").as_dict(private=False))
    with pytest.raises(Rejection) as info:
        await signed(tmp_path, {"alg": "RS256", "kid": "signing", "keys_to_sign": ["a"]}, backend_ok, [public])
    assert info.value.status == 401


def test_signer_parse_requires_alg_and_kid() -> None:
    site = site_for("auth/signer", {})
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"alg": "XX", "jwk_url": "http://idp/keys"}, site)
    assert {i.path.rsplit(".", 1)[-1] for i in info.value.issues} == {"alg", "kid", "jwk_url"}


def test_signer_oct_key_is_usable() -> None:
    assert OctKey.import_key({"kty": "oct", "k": b64(SECRET)}).is_private
