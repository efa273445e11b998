"""auth/validator's verified-token cache: a cached token is still checked against the clock, the
revoker, roles and the key set's generation, and only the very same token string hits it."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import OctKey

from krakenpy.jose import validator as validator_module
from krakenpy.jose.keyset import parse_key_set
from krakenpy.jose.options import parse_validator
from krakenpy.jose.sources import StaticKeySource
from krakenpy.jose.token import TokenError
from krakenpy.jose.validator import Denied, JwtValidator
from tests.jose.helpers import mint, new_key, public_jwk

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> OctKey:
    made = new_key("HS256", "h1")
    assert isinstance(made, OctKey)
    return made


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts signature verifications (a cache hit does none)."""
    calls: list[int] = []
    real = validator_module.verify

    def counting(*args: Any) -> bool:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(validator_module, "verify", counting)
    return calls


def make(key: OctKey, clock: Clock, revoked: Any = None, **value: Any) -> JwtValidator:
    issues: list[Any] = []
    options = parse_validator({"alg": "HS256", "jwk_local_path": "unused.json", **value}, "v", issues)
    assert not issues
    source = StaticKeySource(parse_key_set({"keys": [public_jwk(key)]}))
    return JwtValidator(options, source, revoked=revoked, clock=clock)


def bearer(token: str) -> dict[str, list[str]]:
    return {"Authorization": [f"Bearer {token}"]}


async def reason(validator: JwtValidator, token: str) -> str:
    with pytest.raises(TokenError) as info:
        await validator.authenticate(bearer(token))
    return info.value.reason


async def test_validator_cache_hit_honours_exp_against_the_current_time(key: OctKey, verifications: list[int]) -> None:
    clock = Clock()
    validator = make(key, clock)
    token = mint(key, {"sub": "a", "exp": T0 + 60}, alg="HS256")
    assert (await validator.authenticate(bearer(token)))["sub"] == "a"
    clock.now = T0 + 60.5  # past exp, within the one-second leeway
    assert (await validator.authenticate(bearer(token)))["sub"] == "a"
    clock.now = T0 + 61.5
    assert await reason(validator, token) == "jwt_expired"
    with pytest.raises(TokenError):
        validator.cached(token)  # the entry is there, and refused at this time
    assert len(verifications) == 1


async def test_validator_cache_hit_honours_nbf_and_iat(key: OctKey, verifications: list[int]) -> None:
    clock = Clock()
    validator = make(key, clock)
    early = mint(key, {"nbf": T0 + 30, "exp": T0 + 600}, alg="HS256")
    future = mint(key, {"iat": T0 + 30, "exp": T0 + 600}, alg="HS256")
    for token in (early, future):
        assert await reason(validator, token) == "jwt_not_yet_valid"
        assert await reason(validator, token) == "jwt_not_yet_valid"  # now from the cache
    clock.now = T0 + 29.5  # within the leeway of both
    for token in (early, future):
        assert (await validator.authenticate(bearer(token)))["exp"] == T0 + 600
    assert len(verifications) == 2


async def test_validator_cache_hit_asks_the_revoker_and_checks_roles(key: OctKey, verifications: list[int]) -> None:
    revoked: set[str] = set()
    validator = make(key, Clock(), revoked=lambda claims: claims.get("jti") in revoked, roles=["admin"])
    admin = mint(key, {"jti": "j1", "roles": ["admin"], "exp": T0 + 600}, alg="HS256")
    user = mint(key, {"jti": "j2", "roles": ["user"], "exp": T0 + 600}, alg="HS256")
    assert await validator.authenticate(bearer(admin))
    with pytest.raises(Denied):
        await validator.authenticate(bearer(user))
    with pytest.raises(Denied):
        await validator.authenticate(bearer(user))  # cached: roles are checked again
    revoked.add("j1")
    assert await reason(validator, admin) == "revoked"
    assert len(verifications) == 2


async def test_validator_cache_key_is_the_whole_token(key: OctKey, verifications: list[int]) -> None:
    validator = make(key, Clock())
    token = mint(key, {"sub": "a", "exp": T0 + 600}, alg="HS256")
    assert await validator.authenticate(bearer(token))
    head, body, signature = token.split(".")
    other = "A" if signature[0] != "A" else "B"
    for forged in (f"{head}.{body}.{other}{signature[1:]}", f"{head}.{body}.{signature}AAAA", f"{head}.{body}."):
        assert validator.cached(forged) is None
        assert await reason(validator, forged) == "jwt_invalid_signature"
    assert len(verifications) == 1 + 2  # the empty signature is refused before any verification


async def test_validator_cache_hit_returns_a_fresh_dict(key: OctKey) -> None:
    validator = make(key, Clock())
    token = mint(key, {"sub": "a", "exp": T0 + 600}, alg="HS256")
    first = await validator.authenticate(bearer(token))
    first["sub"] = "mallory"
    assert (await validator.authenticate(bearer(token)))["sub"] == "a"


async def test_validator_cache_entry_is_dropped_when_the_key_set_changes(key: OctKey, verifications: list[int]) -> None:
    validator = make(key, Clock())
    token = mint(key, {"sub": "a", "exp": T0 + 600}, alg="HS256")
    assert await validator.authenticate(bearer(token))
    assert validator.cached(token) is not None
    rotated = new_key("HS256", "h2")
    validator.source._install(parse_key_set({"keys": [public_jwk(rotated)]}))
    assert validator.cached(token) is None
    assert await reason(validator, token) == "jwt_invalid_signature"  # its key left the set
    assert len(verifications) == 1


async def test_validator_bearer_prefix_any_case(key: OctKey) -> None:
    validator = make(key, Clock())
    token = mint(key, {"sub": "a", "exp": T0 + 600}, alg="HS256")
    for prefix in ("Bearer ", "bearer ", "BEARER ", ""):
        assert validator.token({"Authorization": [prefix + token]}) == token
    assert validator.token({"Authorization": ["Bearer "]}) == "Bearer "  # nothing after the prefix: as is
