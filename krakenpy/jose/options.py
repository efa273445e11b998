"""``auth/validator`` options: parsed once, every problem reported at its JSON path.

The JSON Schema has already checked types; this module converts (durations, fingerprints), applies
KrakenD's defaults and checks the rules that span fields. It is pure: files and URLs are touched by
the component's ``build``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigIssue
from krakenpy.jose.algorithms import ALGORITHMS
from krakenpy.jose.keyset import STRATEGIES, Strategy
from krakenpy.names import canonical_header, valid_header_name

__all__ = [
    "DEFAULT_CACHE_DURATION",
    "DEFAULT_TOKEN_CACHE",
    "KeySourceOptions",
    "SharedCacheOptions",
    "ValidatorOptions",
    "parse_fingerprints",
    "parse_key_source",
    "parse_shared",
    "parse_validator",
]

DEFAULT_CACHE_DURATION: Final = 900.0
#: refresh interval of a key set whose endpoints all say ``cache: false`` (KrakenD downloads per request)
UNCACHED_REFRESH: Final = 60.0
DEFAULT_TOKEN_CACHE: Final = 4096


@dataclass(frozen=True, slots=True)
class KeySourceOptions:
    """Where the keys come from and how the download is secured (shared by validator and signer)."""

    jwk_url: str = ""
    jwk_local_path: str = ""
    disable_jwk_security: bool = False
    fingerprints: frozenset[bytes] = frozenset()
    jwk_local_ca: str = ""
    strategy: Strategy = "kid"

    @property
    def remote(self) -> bool:
        return not self.jwk_local_path


@dataclass(frozen=True, slots=True)
class SharedCacheOptions:
    """The service-level ``auth/validator`` value: only ``shared_cache_duration`` is read."""

    shared_cache_duration: float = DEFAULT_CACHE_DURATION


@dataclass(frozen=True, slots=True)
class ValidatorOptions:
    """The endpoint-level ``auth/validator`` value."""

    alg: str
    source: KeySourceOptions
    #: seconds between refreshes of the key set (``cache``/``cache_duration``), ``None``: the shared value
    refresh: float | None
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    roles_key: str = "roles"
    roles_key_is_nested: bool = False
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    scopes_key: str = ""
    scopes_all: bool = False
    propagate_claims: tuple[tuple[str, str], ...] = ()
    propagate_claims_preserve_array: bool = False
    cookie_key: str = "access_token"
    auth_header_name: str = "Authorization"
    leeway: float = 1.0
    failed_jwk_key_cooldown: float = 0.0
    operation_debug: bool = False
    token_cache_size: int = DEFAULT_TOKEN_CACHE


def _duration(raw: Mapping[str, Any], key: str, path: str, issues: list[ConfigIssue]) -> float | None:
    if key not in raw:
        return None
    try:
        return parse_duration(raw[key])
    except ValueError:
        issues.append(ConfigIssue(f"{path}.{key}", f'not a duration: {raw[key]!r} (e.g. "1s", "500ms")'))
        return None


def parse_fingerprints(values: Any, path: str, issues: list[ConfigIssue]) -> frozenset[bytes]:
    """``jwk_fingerprints``: URL-safe base64 (with padding) of a SHA-256 digest, as KrakenD decodes them."""
    pins: set[bytes] = set()
    for i, value in enumerate(values or ()):
        where = f"{path}.jwk_fingerprints[{i}]"
        text = str(value)
        if "+" in text or "/" in text:
            issues.append(ConfigIssue(where, "standard base64: write it URL-safe ('-' and '_' instead of '+' and '/')"))
            continue
        try:
            digest = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            issues.append(ConfigIssue(where, "not URL-safe base64"))
            continue
        if len(digest) != 32:
            issues.append(ConfigIssue(where, f"a SHA-256 fingerprint has 32 bytes, this one {len(digest)}"))
            continue
        pins.add(digest)
    return frozenset(pins)


def parse_key_source(
    raw: Mapping[str, Any], path: str, issues: list[ConfigIssue], *, verify_only: bool = False
) -> KeySourceOptions:
    """``jwk_url`` / ``jwk_local_path`` and their TLS settings. Without either, a validator
    (``verify_only``) gets a warning and rejects every token; a signer gets an error."""
    url = str(raw.get("jwk_url") or "")
    local = str(raw.get("jwk_local_path") or "")
    insecure = bool(raw.get("disable_jwk_security", False))
    # KrakenD's validator starts with these and answers 401 to every request (a warning at start-up);
    # its signer cannot sign: errors
    severity: Literal["error", "warning"] = "warning" if verify_only else "error"
    rejects = ": every request gets 401" if verify_only else ""
    if not url and not local:
        issues.append(ConfigIssue(path, f"no key source: set jwk_url or jwk_local_path{rejects}", severity))
    if url and not local:
        problem = ""
        if not url.startswith(("https://", "http://")):
            problem = f"not an http(s) URL: {url!r}"
        elif not url.startswith("https://") and not insecure:
            problem = "the JWK URL must use https, or set disable_jwk_security: true"
        if problem:
            issues.append(ConfigIssue(f"{path}.jwk_url", problem + rejects, severity))
            url = ""  # no usable source: the validator rejects every token
    for key in ("secret_url", "cypher_key"):
        if raw.get(key):
            issues.append(ConfigIssue(f"{path}.{key}", "encrypted JWK files are not supported by krakenpy"))
    strategy = str(raw.get("key_identify_strategy") or "kid")
    if strategy not in STRATEGIES:
        issues.append(ConfigIssue(f"{path}.key_identify_strategy", f"unknown strategy {strategy!r}"))
        strategy = "kid"
    return KeySourceOptions(
        jwk_url=url,
        jwk_local_path=local,
        disable_jwk_security=insecure,
        fingerprints=parse_fingerprints(raw.get("jwk_fingerprints"), path, issues),
        jwk_local_ca=str(raw.get("jwk_local_ca") or ""),
        strategy=cast(Strategy, strategy),
    )


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in raw.get(key) or ())


def _pairs(raw: Mapping[str, Any], path: str, issues: list[ConfigIssue]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(raw.get("propagate_claims") or ()):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair)):
            issues.append(ConfigIssue(f"{path}.propagate_claims[{i}]", 'expected ["claim", "Header-Name"]'))
            continue
        if not valid_header_name(pair[1]):  # Go's client would refuse every request carrying it
            issues.append(ConfigIssue(f"{path}.propagate_claims[{i}][1]", f"invalid header field name {pair[1]!r}"))
            continue
        pairs.append((pair[0], canonical_header(pair[1])))
    return tuple(pairs)


def parse_validator(raw: Mapping[str, Any], path: str, issues: list[ConfigIssue]) -> ValidatorOptions:
    """The endpoint value; appends to ``issues`` instead of raising, so every problem is reported."""
    alg = raw.get("alg")
    if alg is None:
        issues.append(ConfigIssue(f"{path}.alg", "missing: KrakenD has no default algorithm (it exits at start-up)"))
        alg = "RS256"
    elif alg not in ALGORITHMS:
        issues.append(ConfigIssue(f"{path}.alg", f"unsupported algorithm {alg!r} (one of {', '.join(ALGORITHMS)})"))
        alg = "RS256"
    source = parse_key_source(raw, path, issues, verify_only=True)
    refresh: float | None = None
    if raw.get("cache", False):
        seconds = raw.get("cache_duration")
        refresh = float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None
    else:
        refresh = UNCACHED_REFRESH
    leeway = _duration(raw, "leeway", path, issues)
    cooldown = _duration(raw, "failed_jwk_key_cooldown", path, issues)
    matcher = str(raw.get("scopes_matcher") or "any")
    size = raw.get("token_cache_size", DEFAULT_TOKEN_CACHE)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        issues.append(ConfigIssue(f"{path}.token_cache_size", "expected an integer ≥ 0"))
        size = DEFAULT_TOKEN_CACHE
    return ValidatorOptions(
        alg=str(alg),
        source=source,
        refresh=refresh,
        audience=_strings(raw, "audience"),
        issuer=str(raw["issuer"]) if raw.get("issuer") else None,
        roles_key=str(raw.get("roles_key") or "roles"),
        roles_key_is_nested=bool(raw.get("roles_key_is_nested", False)),
        roles=_strings(raw, "roles"),
        scopes=_strings(raw, "scopes"),
        scopes_key=str(raw.get("scopes_key") or ""),
        scopes_all=matcher == "all",
        propagate_claims=_pairs(raw, path, issues),
        propagate_claims_preserve_array=bool(raw.get("propagate_claims_preserve_array", False)),
        cookie_key=str(raw.get("cookie_key") or "access_token"),
        auth_header_name=canonical_header(str(raw.get("auth_header_name") or "Authorization")),
        # KrakenD: below one second (or unset) means one second
        leeway=max(leeway if leeway is not None else 1.0, 1.0),
        failed_jwk_key_cooldown=cooldown if cooldown is not None and cooldown >= 1.0 else 0.0,
        operation_debug=bool(raw.get("operation_debug", False)),
        token_cache_size=size,
    )


def parse_shared(raw: Mapping[str, Any]) -> SharedCacheOptions:
    """The service value (``shared_cache_duration`` in seconds; 0 or absent: 900)."""
    seconds = raw.get("shared_cache_duration")
    value = float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0 else 0
    return SharedCacheOptions(value or DEFAULT_CACHE_DURATION)
