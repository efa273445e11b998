"""JWT validation as krakend-jose does it, with verified tokens remembered.

Order of checks (gin/jose.go): extract → parse → ``alg`` equals the configured one → key by id →
signature → ``iss``/``aud``/types → time window → revocation → roles (403) → scopes (403).

A token whose signature was verified is kept (bounded, first in first out) with its claims, so the
same token on the next request costs a dictionary look-up and the time-window check instead of an
RSA/ECDSA verification. The entry is bound to the key set's generation: when the set changes (a
key rotated out), every remembered token is verified again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from krakenpy.jose.algorithms import key_fits, verify
from krakenpy.jose.claims import MISSING, claim_values, lookup, nested
from krakenpy.jose.keyset import token_key_id
from krakenpy.jose.options import ValidatorOptions
from krakenpy.jose.sources import KeySource
from krakenpy.jose.token import ClaimRules, TokenError, parse_compact
from krakenpy.proxy.types import Headers

__all__ = ["Denied", "JwtValidator"]


class Denied(TokenError):
    """Authenticated but not allowed (roles, scopes): 403."""


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: dict[str, Any]
    exp: float | None
    nbf: float | None
    iat: float | None
    generation: int
    #: the time window as two numbers (``nbf``/``iat`` and ``exp``, ±inf when absent), so a cached
    #: token's check is two comparisons; the window itself is :meth:`ClaimRules.check_time`'s
    not_before: float
    not_after: float


def _cookie(values: list[str], name: str) -> str | None:
    for value in values:
        for part in value.split(";"):
            key, sep, found = part.strip().partition("=")
            if sep and key == name:
                if len(found) > 1 and found[0] == found[-1] == '"':
                    found = found[1:-1]
                return found or None
    return None


class JwtValidator:
    """One endpoint's validator: :meth:`authenticate` returns the claims or raises :class:`TokenError`."""

    def __init__(
        self,
        options: ValidatorOptions,
        source: KeySource,
        *,
        revoked: Callable[[dict[str, Any]], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.source = source
        self._revoked = revoked
        self._clock = clock
        self._rules = ClaimRules(options.issuer, options.audience, options.leeway)
        self._leeway = options.leeway
        self._alg = options.alg
        self._header = options.auth_header_name
        self._cookie = options.cookie_key
        self._cache: dict[str, _Verified] = {}
        self._cache_size = options.token_cache_size
        self._roles = frozenset(options.roles)
        self._scopes = options.scopes if options.scopes and options.scopes_key else ()

    def token(self, headers: Headers) -> str | None:
        """Header first (``Bearer`` stripped), then the cookie, as go-auth0's extractor does."""
        values = headers.get(self._header)
        if values and values[0]:
            value = values[0]
            if len(value) > 7 and (value.startswith("Bearer ") or value[:7].lower() == "bearer "):
                return value[7:]
            return value
        cookies = headers.get("Cookie")
        return _cookie(cookies, self._cookie) if cookies else None

    async def authenticate(self, headers: Headers) -> dict[str, Any]:
        """The verified claims of the request's token (a fresh dict per call)."""
        token = self.token(headers)
        if token is None:
            raise TokenError("no_credentials", "no token in the header or the cookie")
        claims = self.cached(token)
        return claims if claims is not None else await self.verified(token)

    def cached(self, token: str) -> dict[str, Any] | None:
        """The claims of a token verified before with the current key set, checked for this request
        (time window, revocation, roles, scopes); ``None`` when it must be verified. The key is the
        whole token: a token is never accepted on the strength of another one's signature."""
        entry = self._cache.get(token)
        if entry is None or entry.generation != self.source.generation:
            return None
        return self._admit(entry)

    async def verified(self, token: str) -> dict[str, Any]:
        """Verify ``token`` (signature, static claims; remembered when it may be used again), then
        check it for this request like :meth:`cached`."""
        return self._admit(await self._verify(token))

    def _admit(self, entry: _Verified) -> dict[str, Any]:
        now = self._clock()
        leeway = self._leeway
        if now + leeway < entry.not_before or now - leeway > entry.not_after:
            self._rules.check_time(entry.exp, entry.nbf, entry.iat, now)  # raises with the reason
        claims = entry.claims
        if self._revoked is not None and self._revoked(claims):
            raise TokenError("revoked", "token revoked")
        if self._roles:
            self._check_roles(claims)
        if self._scopes:
            self._check_scopes(claims)
        return dict(claims)

    async def _verify(self, token: str) -> _Verified:
        parsed = parse_compact(token)
        if parsed.alg != self._alg:
            raise TokenError("jwt_invalid_signature", f"algorithm {parsed.alg[:20]!r} is not the configured one")
        key_id = token_key_id(parsed.header, self.options.source.strategy)
        keys = self.source.lookup(key_id)
        if keys is None:
            keys = await self.source.find(key_id)
        if not keys:
            raise TokenError("jwt_invalid_signature", self.source.problem or f"no key with id {key_id[:80]!r}")
        generation = self.source.generation
        fitting = [key for key in keys if key_fits(self._alg, key)]
        if not fitting:
            raise TokenError("jwt_invalid_signature", f"no {self._alg} key with id {key_id[:80]!r}")
        if not any(verify(self._alg, parsed.signing_input, parsed.signature, key) for key in fitting):
            raise TokenError("jwt_invalid_signature", "signature does not verify")
        exp, nbf, iat = self._rules.check_static(parsed.claims)
        starts = [t for t in (nbf, iat) if t is not None]
        entry = _Verified(
            parsed.claims, exp, nbf, iat, generation, max(starts, default=-math.inf), math.inf if exp is None else exp
        )
        if self._cache_size and (exp is None or exp > self._clock()):
            cache = self._cache
            if len(cache) >= self._cache_size:
                del cache[next(iter(cache))]
            cache[token] = entry
        return entry

    def _check_roles(self, claims: dict[str, Any]) -> None:
        value = lookup(claims, self.options.roles_key, is_nested=self.options.roles_key_is_nested)
        roles = claim_values(value) if value is not MISSING else None
        if roles is None:
            shape = "missing" if value is MISSING else "not a list of strings"
            raise Denied("role_missing", f"roles claim {self.options.roles_key!r} {shape}")
        if self._roles.isdisjoint(roles):
            raise Denied("role_missing", "none of the required roles")

    def _check_scopes(self, claims: dict[str, Any]) -> None:
        key = self.options.scopes_key
        # beyond CE: a namespaced key (``https://example.com/scope``) is a top-level claim first;
        # krakend-jose splits every dotted key, so such keys never match there
        value = claims.get(key, MISSING)
        if value is MISSING and "." in key:
            value = nested(claims, key)
        scopes = claim_values(value) if value is not MISSING else None
        if not scopes:
            raise Denied("scope_missing", f"scopes claim {key!r} missing, empty or not strings")
        have = set(scopes)
        if self.options.scopes_all:
            if not all(s in have for s in self._scopes):
                raise Denied("scope_missing", "not every required scope")
        elif not any(s in have for s in self._scopes):
            raise Denied("scope_missing", "none of the required scopes")
