"""auth/validator through its component: parse, build (real JWKS server on 127.0.0.1), the middleware."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.components.auth.validator import COMPONENT
from krakenpy.errors import ConfigError, Rejection
from krakenpy.jose import sources as sources_module
from krakenpy.jose import validator as validator_module
from krakenpy.jose.algorithms import ALGORITHMS
from krakenpy.jose.sources import REFETCH_WAIT, RemoteKeySource
from krakenpy.proxy.types import Proxy
from tests.cli_gateway import check_config
from tests.jose.helpers import (
    JwksServer,
    claims,
    echo,
    forge,
    mint,
    new_key,
    public_jwk,
    request,
    resources_for,
    rsa_key,
    site_for,
)

Start = Callable[[web.Application], Awaitable[str]]
Build = Callable[..., Awaitable[Proxy]]


@pytest.fixture(autouse=True)
def patient_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request waits at most REFETCH_WAIT (1 s) for a key set download, which a busy machine can
    exceed even on loopback; tests about claims and keys must not depend on that race, so here a
    request waits for the download (the test about the wait itself sets it back)."""
    monkeypatch.setattr(sources_module, "REFETCH_WAIT", 30.0)


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """Parse + build the component for one endpoint; returns the guarded proxy (stack closed after)."""
    stack = AsyncExitStack()
    shared: list[Any] = []  # one Resources per test, as one gateway has

    async def make(value: dict[str, Any], *, url_pattern: str = "/x", service_extra: Any = None) -> Proxy:
        site = site_for("auth/validator", value, url_pattern=url_pattern, service_extra=service_extra)
        if not shared:
            shared.append(resources_for(site, stack))
        resources = shared[0]
        options = COMPONENT.parse(value, site)
        assert COMPONENT.endpoint is not None
        middleware = await COMPONENT.endpoint(options, site, resources)
        assert middleware is not None
        return middleware(echo)

    yield make
    await stack.aclose()


@pytest.fixture
async def jwks(backend: Start) -> JwksServer:
    server = JwksServer(keys=[rsa_key("k1")])
    server.url = await backend(server.app()) + "/jwks"
    return server


def bearer(token: str) -> dict[str, list[str]]:
    return {"Authorization": [f"Bearer {token}"]}


async def rejected(proxy: Proxy, headers: dict[str, list[str]]) -> Rejection:
    with pytest.raises(Rejection) as info:
        await proxy(request(headers))
    assert info.value.payload == b"" and info.value.policy == "auth/validator"
    return info.value


def rs256(jwks: JwksServer, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"alg": "RS256", "jwk_url": jwks.url, "disable_jwk_security": True}
    value.update(extra)
    return value


async def test_validator_valid_rs256_token_sets_claims(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    token = mint(rsa_key("k1"), claims(email="a@b.c"), alg="RS256")
    response = await proxy(request(bearer(token)))
    assert response.data["claims"]["email"] == "a@b.c"
    assert response.data["claims"]["sub"] == "user-1"


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_validator_every_algorithm_from_a_local_jwk_file(build: Build, tmp_path: Path, alg: str) -> None:
    key = new_key(alg, f"k-{alg}")
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [public_jwk(key)]}))
    proxy = await build({"alg": alg, "jwk_local_path": str(path), "disable_jwk_security": True})
    token = mint(key, claims(), alg=alg)
    assert (await proxy(request(bearer(token)))).data["claims"]["sub"] == "user-1"
    other = new_key(alg, f"k-{alg}") if not alg.startswith(("RS", "PS")) else rsa_key("other")
    if alg.startswith(("RS", "PS")):
        other = type(other).import_key(dict(other.as_dict(private=True), kid=f"k-{alg}"))
    forged = mint(other, claims(), alg=alg)
    assert (await rejected(proxy, bearer(forged))).reason == "jwt_invalid_signature"


async def test_validator_hs256_oct_key_from_jwks(build: Build, backend: Start) -> None:
    key = new_key("HS256", "sim2")
    server = JwksServer(keys=[key])
    server.url = await backend(server.app()) + "/jwks"
    proxy = await build({"alg": "HS256", "jwk_url": server.url, "disable_jwk_security": True})
    assert (await proxy(request(bearer(mint(key, claims(), alg="HS256"))))).data["claims"]


async def test_validator_missing_token_is_401_no_credentials(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    rejection = await rejected(proxy, {})
    assert rejection.status == 401 and rejection.reason == "no_credentials"


async def test_validator_token_without_bearer_prefix_and_custom_header(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, auth_header_name="x-token"))
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    assert (await proxy(request({"X-Token": [token]}))).data["claims"]
    assert (await proxy(request({"X-Token": [f"bearer {token}"]}))).data["claims"]


async def test_validator_cookie_fallback_only_when_header_absent(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, cookie_key="session"))
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    cookie = {"Cookie": [f"theme=dark; session={token}"]}
    assert (await proxy(request(cookie))).data["claims"]
    # a header that does not parse is the answer: the cookie is not tried (go-auth0)
    await rejected(proxy, {**cookie, "Authorization": ["Bearer garbage"]})


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "a.b.c.d.e",
        "!!!.e30.c2ln",
        "e30.e30.",
        forge({"typ": "JWT"}, {"sub": "x"}),
        forge({"alg": 5}, {"sub": "x"}),
        "bm90IGpzb24." + forge({"alg": "RS256"}, {}).split(".", 1)[1],
        forge({"alg": "RS256", "kid": "k1"}, {"sub": "x"}).split(".")[0] + ".WzFd.c2ln",
        forge({"alg": "RS256", "kid": "k1", "crit": ["exp"]}, {"sub": "x"}),
        "x" * 20_000,
    ],
    ids=[
        "no-dots",
        "two-parts",
        "jwe-shape",
        "bad-base64",
        "empty-signature",
        "no-alg",
        "alg-not-string",
        "header-not-json",
        "payload-array",
        "crit",
        "oversized",
    ],
)
async def test_validator_malformed_tokens_are_401(
    build: Build, jwks: JwksServer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await build(rs256(jwks, operation_debug=True))
    with caplog.at_level(logging.DEBUG, logger="krakenpy"):
        rejection = await rejected(proxy, bearer(token))
    assert rejection.status == 401
    # the rejection is logged (operation_debug: at ERROR), with its reason and never the token
    logged = [r for r in caplog.records if "JWT rejected" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert f"({rejection.reason})" in logged[0].getMessage()
    assert token not in caplog.text


async def test_validator_alg_none_is_401(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    token = forge({"alg": "none", "kid": "k1"}, claims())[:-3]  # "none" tokens have no signature
    await rejected(proxy, bearer(token))
    await rejected(proxy, bearer(forge({"alg": "none", "kid": "k1"}, claims())))


async def test_validator_algorithm_confusion_hs256_with_rsa_public_key_is_401(
    build: Build, jwks: JwksServer, tmp_path: Path
) -> None:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = rsa_key("k1").public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    head_body = forge({"alg": "HS256", "kid": "k1"}, claims()).rsplit(".", 1)[0]
    sig = hmac.new(pem, head_body.encode(), hashlib.sha256).digest()
    from tests.jose.helpers import b64

    token = head_body + "." + b64(sig)
    proxy = await build(rs256(jwks))
    assert (await rejected(proxy, bearer(token))).reason == "jwt_invalid_signature"
    # even when the endpoint is configured for HS256, an RSA key is never used as an HMAC secret
    proxy_hs = await build({"alg": "HS256", "jwk_url": jwks.url, "disable_jwk_security": True})
    assert (await rejected(proxy_hs, bearer(token))).reason == "jwt_invalid_signature"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        # times are offsets from when the test runs, not from when this module was imported
        ({"exp": -30}, "jwt_expired"),
        ({"nbf": 60}, "jwt_not_yet_valid"),
        ({"iat": 60}, "jwt_not_yet_valid"),
        ({"exp": "tomorrow"}, "jwt_invalid_signature"),
        ({"iss": 5}, "jwt_invalid_signature"),
        ({"aud": [1, 2]}, "jwt_invalid_signature"),
    ],
    ids=["expired", "nbf-future", "iat-future", "exp-string", "iss-number", "aud-numbers"],
)
async def test_validator_time_and_type_rules(
    build: Build, jwks: JwksServer, extra: dict[str, Any], reason: str
) -> None:
    proxy = await build(rs256(jwks))
    now = int(time.time())
    timed = {k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v for k, v in extra.items()}
    token = mint(rsa_key("k1"), claims(**timed), alg="RS256")
    assert (await rejected(proxy, bearer(token))).reason == reason


async def test_validator_leeway_and_tokens_without_exp(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, leeway="30s"))
    now = int(time.time())
    assert (await proxy(request(bearer(mint(rsa_key("k1"), {"exp": now - 10}, alg="RS256"))))).data
    assert (await proxy(request(bearer(mint(rsa_key("k1"), {"sub": "no-exp"}, alg="RS256"))))).data


async def test_validator_audience_all_of_and_issuer(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, audience=["a", "b"], issuer="https://idp"))
    key = rsa_key("k1")
    assert (await proxy(request(bearer(mint(key, claims(aud=["a", "b", "c"], iss="https://idp"), alg="RS256"))))).data
    assert (await rejected(proxy, bearer(mint(key, claims(aud="a", iss="https://idp"), alg="RS256")))).reason == (
        "aud_mismatch"
    )
    assert (await rejected(proxy, bearer(mint(key, claims(aud=["a", "b"], iss="https://x"), alg="RS256")))).reason == (
        "iss_mismatch"
    )


async def test_validator_wrong_kid_is_401(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    token = mint(rsa_key("k1"), claims(), alg="RS256", header={"kid": "unknown"})
    assert (await rejected(proxy, bearer(token))).reason == "jwt_invalid_signature"


@pytest.mark.parametrize(
    ("config", "token_claims", "status"),
    [
        ({"roles": ["admin"]}, {"roles": ["user", "admin"]}, 200),
        ({"roles": ["admin"]}, {"roles": "user admin"}, 200),
        ({"roles": ["admin"]}, {"roles": ["user"]}, 403),
        ({"roles": ["admin"]}, {}, 403),
        ({"roles": ["admin"]}, {"roles": [1, {"x": 2}]}, 403),
        ({"roles": ["admin"]}, {"roles": {"admin": True}}, 403),
        (
            {"roles": ["m"], "roles_key": "realm_access.roles", "roles_key_is_nested": True},
            {"realm_access": {"roles": ["m"]}},
            200,
        ),
        ({"roles": ["m"], "roles_key": "a.b", "roles_key_is_nested": True}, {"a": {"b": ["m"]}}, 200),
        (
            {"roles": ["m"], "roles_key": "http://x.com/roles", "roles_key_is_nested": True},
            {"http://x.com/roles": ["m"]},
            200,
        ),
        ({"scopes": ["r", "w"], "scopes_key": "scope"}, {"scope": "w other"}, 200),
        ({"scopes": ["r", "w"], "scopes_key": "scope", "scopes_matcher": "all"}, {"scope": "w other"}, 403),
        ({"scopes": ["r", "w"], "scopes_key": "scope", "scopes_matcher": "all"}, {"scope": ["r", "w"]}, 200),
        ({"scopes": ["r"], "scopes_key": "scope"}, {"scope": []}, 403),
        ({"scopes": ["r"], "scopes_key": "scope"}, {"scope": 7}, 403),
        ({"scopes": ["r"], "scopes_key": "https://x.com/scope"}, {"https://x.com/scope": "r"}, 200),
        ({"scopes": ["r"], "scopes_key": "ext.scope"}, {"ext": {"scope": ["r"]}}, 200),
        ({"scopes": ["r"]}, {}, 200),
    ],
)
async def test_validator_roles_and_scopes(
    build: Build, jwks: JwksServer, config: dict[str, Any], token_claims: dict[str, Any], status: int
) -> None:
    proxy = await build(rs256(jwks, **config))
    token = mint(rsa_key("k1"), claims(**token_claims), alg="RS256")
    if status == 200:
        assert (await proxy(request(bearer(token)))).data["claims"]
    else:
        rejection = await rejected(proxy, bearer(token))
        assert rejection.status == 403 and rejection.reason in ("role_missing", "scope_missing")


async def test_validator_propagate_claims_render_and_override(build: Build, jwks: JwksServer) -> None:
    pairs = [
        ["sub", "x-user"],
        ["n", "x-n"],
        ["f", "x-f"],
        ["half", "x-half"],
        ["list", "x-list"],
        ["obj", "x-obj"],
        ["flag", "x-flag"],
        ["realm.role", "x-role"],
        ["missing", "x-missing"],
    ]
    proxy = await build(rs256(jwks, propagate_claims=pairs))
    token = mint(
        rsa_key("k1"),
        claims(n=3, f=2.0, half=1.5, list=["a", 1, 2.5], obj={"a": 1}, flag=True, realm={"role": "r"}),
        alg="RS256",
    )
    headers = {**bearer(token), "X-User": ["spoofed"]}
    seen = (await proxy(request(headers))).data["headers"]
    assert seen["X-User"] == ["user-1"]
    assert seen["X-N"] == ["3"] and seen["X-F"] == ["2"] and seen["X-Half"] == ["1.500000"]
    assert seen["X-List"] == ["a,1,2.5"] and seen["X-Obj"] == ['{"a":1}'] and seen["X-Flag"] == ["true"]
    assert seen["X-Role"] == ["r"] and seen["X-Missing"] == [""]


async def test_validator_propagate_claims_preserve_array(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, propagate_claims=[["groups", "x-g"]], propagate_claims_preserve_array=True))
    token = mint(rsa_key("k1"), claims(groups=["a", "b"]), alg="RS256")
    assert (await proxy(request(bearer(token)))).data["headers"]["X-G"] == ["a", "b"]


async def test_validator_jwt_params_for_url_pattern(build: Build, jwks: JwksServer) -> None:
    pattern = "/u/{JWT.sub}/{JWT.http://example.com/custom}/{JWT.org.id}/{JWT.nope}"
    proxy = await build(rs256(jwks), url_pattern=pattern)
    token = mint(rsa_key("k1"), claims(**{"http://example.com/custom": 7, "org": {"id": "o-1"}}), alg="RS256")
    params = (await proxy(request(bearer(token)))).data["params"]
    assert params == {"JWT.sub": "user-1", "JWT.http://example.com/custom": "7", "JWT.org.id": "o-1"}


async def test_validator_verified_tokens_are_not_verified_again(
    build: Build, jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = validator_module.verify

    def counting(*args: Any) -> bool:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(validator_module, "verify", counting)
    proxy = await build(rs256(jwks))
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    for _ in range(5):
        await proxy(request(bearer(token)))
    assert len(calls) == 1


async def test_validator_key_rotation_mid_test(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    old = mint(rsa_key("k1"), claims(), alg="RS256")
    assert (await proxy(request(bearer(old)))).data
    jwks.keys = [rsa_key("k2")]  # the IdP rotates: k1 out, k2 in
    await asyncio.sleep(1.05)  # on-demand refetches are at least a second apart
    new = mint(rsa_key("k2"), claims(), alg="RS256")
    assert (await proxy(request(bearer(new)))).data  # unknown kid: one refetch, then accepted
    # the set changed, so the remembered k1 token is verified again and its key is gone
    assert (await rejected(proxy, bearer(old))).reason == "jwt_invalid_signature"


async def test_validator_unknown_kids_cause_a_bounded_number_of_refetches(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks))
    assert (await proxy(request(bearer(mint(rsa_key("k1"), claims(), alg="RS256"))))).data
    before = jwks.hits
    tokens = [forge({"alg": "RS256", "kid": f"made-up-{i}"}, claims()) for i in range(1000)]
    results = await asyncio.gather(*(proxy(request(bearer(t))) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, Rejection) and r.status == 401 for r in results)
    assert jwks.hits - before <= 2


async def test_validator_failed_kid_cooldown(build: Build, jwks: JwksServer) -> None:
    proxy = await build(rs256(jwks, failed_jwk_key_cooldown="1h"))
    token = forge({"alg": "RS256", "kid": "nope"}, claims())
    await asyncio.sleep(1.05)
    await rejected(proxy, bearer(token))
    hits = jwks.hits
    await asyncio.sleep(1.05)
    await rejected(proxy, bearer(token))  # within the cooldown: no download for that kid
    assert jwks.hits == hits


async def test_validator_jwks_down_at_start_then_recovers(
    build: Build, backend: Start, caplog: pytest.LogCaptureFixture
) -> None:
    server = JwksServer(keys=[rsa_key("k1")], status=503)
    server.url = await backend(server.app()) + "/jwks"
    with caplog.at_level(logging.WARNING, logger="krakenpy.jose"):
        proxy = await build(rs256(server))
        token = mint(rsa_key("k1"), claims(), alg="RS256")
        rejection = await rejected(proxy, bearer(token))
    assert "unavailable" in rejection.detail
    assert "status 503" in caplog.text
    server.status = 200
    await asyncio.sleep(1.05)
    assert (await proxy(request(bearer(token)))).data


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        ({"raw": b"<html>nope</html>"}, "not JSON"),
        ({"raw": b'{"keys": []}'}, "no keys"),
        ({"raw": b'{"keys": [{"kty": "weird"}]}'}, "can be used"),
        ({"content_type": "text/html"}, "Content-Type"),
    ],
)
async def test_validator_garbage_jwks_is_401_and_logged(
    build: Build, backend: Start, caplog: pytest.LogCaptureFixture, change: dict[str, Any], logged: str
) -> None:
    server = JwksServer(keys=[rsa_key("k1")])
    for name, value in change.items():
        setattr(server, name, value)
    server.url = await backend(server.app()) + "/jwks"
    with caplog.at_level(logging.WARNING, logger="krakenpy.jose"):
        proxy = await build(rs256(server))
        await rejected(proxy, bearer(mint(rsa_key("k1"), claims(), alg="RS256")))
    assert logged in caplog.text


async def test_validator_slow_jwks_answers_401_within_the_wait_bound(
    build: Build, backend: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources_module, "REFETCH_WAIT", REFETCH_WAIT)
    server = JwksServer(keys=[rsa_key("k1")], delay=30.0)
    server.url = await backend(server.app()) + "/jwks"
    proxy = await build(rs256(server))
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    start = time.monotonic()
    try:
        await rejected(proxy, bearer(token))
        assert time.monotonic() - start < 10  # the request's wait is bounded (1 s), not the 30 s download
    finally:
        server.release()


async def test_validator_endpoints_share_one_download_per_url(build: Build, jwks: JwksServer) -> None:
    proxies = [await build(rs256(jwks)) for _ in range(3)]
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    for proxy in proxies:
        assert (await proxy(request(bearer(token)))).data
    assert jwks.hits == 1


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"jwk_url": "https://idp/jwks"}, "alg", "missing"),
        ({"alg": "HS1024", "jwk_url": "https://idp/jwks"}, "alg", "unsupported algorithm"),
        ({"alg": "RS256", "jwk_url": "https://i/j", "jwk_fingerprints": ["ab+/"]}, "jwk_fingerprints[0]", "URL-safe"),
        ({"alg": "RS256", "jwk_url": "https://i/j", "jwk_fingerprints": ["YWJj"]}, "jwk_fingerprints[0]", "32 bytes"),
        ({"alg": "RS256", "jwk_url": "https://i/j", "leeway": "soon"}, "leeway", "duration"),
        ({"alg": "RS256", "jwk_url": "https://i/j", "secret_url": "base64key://x"}, "secret_url", "not supported"),
        ({"alg": "RS256", "jwk_url": "https://i/j", "propagate_claims": [["sub"]]}, "propagate_claims[0]", "expected"),
    ],
)
def test_validator_parse_reports_json_paths(value: dict[str, Any], path: str, message: str) -> None:
    site = site_for("auth/validator", value)
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, site)
    issue = next(i for i in info.value.issues if message in i.message)
    assert issue.path == site.at(path) if path else site.path


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"alg": "RS256", "jwk_url": "http://idp/jwks"}, "jwk_url", "must use https"),
        ({"alg": "RS256", "jwk_url": "$JWK_URL"}, "jwk_url", "not an http(s) URL: '$JWK_URL'"),
        ({"alg": "HS256", "disable_jwk_security": True}, "", "no key source"),
    ],
)
async def test_validator_without_a_usable_key_source_warns_and_rejects_every_token(
    build: Build, value: dict[str, Any], path: str, message: str
) -> None:
    # KrakenD starts with these and answers 401 to every request of the endpoint (fail closed)
    site = site_for("auth/validator", value)
    COMPONENT.parse(value, site)
    assert [(i.path, i.severity) for i in site.notes] == [(site.at(path) if path else site.path, "warning")]
    assert message in site.notes[0].message and "every request gets 401" in site.notes[0].message
    proxy = await build(value)
    token = mint(rsa_key("k1"), claims(), alg="RS256")
    assert (await rejected(proxy, bearer(token))).status == 401


async def test_validator_build_reports_unreadable_jwk_local_path(build: Build, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        await build({"alg": "RS256", "jwk_local_path": str(tmp_path / "missing.json")})
    assert info.value.issues[0].path.endswith("auth/validator.jwk_local_path")


def test_validator_service_value_only_carries_the_shared_cache() -> None:
    site = site_for("auth/validator", {"alg": "RS256", "jwk_url": "https://i/j"})
    from krakenpy.components.base import Site

    service_site = Site("service", "extra_config.auth/validator", site.service)
    options = COMPONENT.parse({"shared_cache_duration": 30}, service_site)
    assert options.shared_cache_duration == 30  # type: ignore[union-attr]


async def test_validator_cache_duration_sets_the_refresh_interval(build: Build, jwks: JwksServer) -> None:
    await build(rs256(jwks, cache=True, cache_duration=1))
    async with asyncio.timeout(30):  # fetched at start and refreshed in the background, without requests
        while jwks.hits < 3:
            await asyncio.sleep(0.05)


def test_remote_source_interval_defaults() -> None:
    assert RemoteKeySource("https://x").interval == 900.0


def test_validator_propagated_claim_header_name_go_refuses_fails_check(tmp_path: Path) -> None:
    # Go's client would refuse every request carrying it (net/http: invalid header field name);
    # the upstream clients check header values, not names
    validator = {
        "alg": "RS256",
        "jwk_url": "http://127.0.0.1:8000/jwks",
        "disable_jwk_security": True,
        "propagate_claims": [["sub", "X:User"], ["iss", "X-Iss"]],
    }
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/x"}
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a", "extra_config": {"auth/validator": validator}, "backend": [backend]}],
    }
    config = tmp_path / "krakend.json"
    config.write_text(orjson.dumps(doc).decode())
    done = check_config(config)
    assert done.returncode == 1
    assert "auth/validator.propagate_claims[0][1]: invalid header field name 'X:User'" in done.stderr
    assert "propagate_claims[1]" not in done.stderr
