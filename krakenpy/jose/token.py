"""Compact JWS tokens: strict parsing and the registered-claim rules of go-jose as KrakenD applies them.

Parsing never trusts the token: size-capped, exactly three base64url parts, JSON objects for header and
payload, a string ``alg``, no ``crit`` extensions (none are understood). Claim types follow go-jose's
``jwt.Claims`` (``iss``/``sub``/``jti`` strings, ``aud`` string or list of strings, ``exp``/``nbf``/
``iat`` numbers); a wrong type rejects the token, as the unmarshalling error does in KrakenD.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = ["MAX_TOKEN_BYTES", "ClaimRules", "Token", "TokenError", "parse_compact"]

#: larger tokens are refused before any decoding (headers of that size are abuse, not identity)
MAX_TOKEN_BYTES: Final = 16 * 1024
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    """The token is unusable; ``reason`` is an audit word, ``str(self)`` a detail for logs (never the token)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Token:
    """A parsed, not yet verified compact JWS."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        value: str = self.header["alg"]
        return value


def _b64(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part):
        raise TokenError("jwt_invalid_signature", f"malformed token: {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("jwt_invalid_signature", f"malformed token: {what} is not base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TokenError("jwt_invalid_signature", f"malformed token: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError("jwt_invalid_signature", f"malformed token: {what} is not a JSON object")
    return value


def parse_compact(text: str) -> Token:
    """Split and decode a compact JWS; raises :class:`TokenError`. The signature is not checked here."""
    if len(text) > MAX_TOKEN_BYTES:
        raise TokenError("jwt_invalid_signature", f"token too large ({len(text)} bytes)")
    parts = text.split(".")
    if len(parts) != 3:
        kind = "an encrypted token (JWE)" if len(parts) == 5 else f"{len(parts)} parts"
        raise TokenError("jwt_invalid_signature", f"malformed token: {kind}, a compact JWS has 3 parts")
    head, body, sig = parts
    header = _json_object(_b64(head, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise TokenError("jwt_invalid_signature", "malformed token: header without a string alg")
    if "crit" in header:
        raise TokenError("jwt_invalid_signature", "token header lists critical extensions krakenpy does not understand")
    claims = _json_object(_b64(body, "payload"), "payload")
    signature = _b64(sig, "signature")
    if not signature:
        raise TokenError("jwt_invalid_signature", "unsigned token")
    return Token(header, claims, (head + "." + body).encode("ascii"), signature)


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("jwt_invalid_signature", f"claim {name} is not a number")
    return float(value)


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """``issuer``/``audience`` equality checks (once per token) and the time window (every request)."""

    issuer: str | None = None
    audience: tuple[str, ...] = ()
    #: seconds of clock skew tolerated (KrakenD: at least 1 s)
    leeway: float = 1.0

    def check_static(self, claims: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
        """Types, ``iss`` and ``aud``; returns (exp, nbf, iat) for :meth:`check_time`. Raises :class:`TokenError`."""
        for name in ("iss", "sub", "jti"):
            value = claims.get(name)
            if value is not None and not isinstance(value, str):
                raise TokenError("jwt_invalid_signature", f"claim {name} is not a string")
        aud = claims.get("aud")
        if aud is None:
            auds: list[str] = []
        elif isinstance(aud, str):
            auds = [aud]
        elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            auds = aud
        else:
            raise TokenError("jwt_invalid_signature", "claim aud is neither a string nor a list of strings")
        times = (_number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat"))
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise TokenError("iss_mismatch", "issuer does not match")
        for wanted in self.audience:
            if wanted not in auds:
                raise TokenError("aud_mismatch", f"audience {wanted!r} missing")
        return times

    def check_time(self, exp: float | None, nbf: float | None, iat: float | None, now: float) -> None:
        """go-jose's window: ``nbf``/``iat`` not after now+leeway, ``exp`` not before now−leeway."""
        leeway = self.leeway
        if nbf is not None and now + leeway < nbf:
            raise TokenError("jwt_not_yet_valid", "token not valid yet (nbf)")
        if exp is not None and now - leeway > exp:
            raise TokenError("jwt_expired", "token expired (exp)")
        if iat is not None and now + leeway < iat:
            raise TokenError("jwt_not_yet_valid", "token issued in the future (iat)")
