"""``auth/signer``: sign objects of the endpoint's answer as JWS tokens (krakend-jose)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

if TYPE_CHECKING:  # krakenpy.jose (joserfc, cryptography) is imported by parse/build: only configs signing
    from krakenpy.jose.signer import SignerOptions

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "auth/signer"


def parse(raw: Any, site: Site) -> SignerOptions:
    """``alg`` and ``kid`` are required; the key comes from ``jwk_url`` or ``jwk_local_path``."""
    from krakenpy.jose.algorithms import ALGORITHMS
    from krakenpy.jose.options import parse_key_source
    from krakenpy.jose.signer import SignerOptions

    issues: list[ConfigIssue] = []
    alg = raw.get("alg")
    if alg not in ALGORITHMS:
        issues.append(ConfigIssue(site.at("alg"), f"expected one of {', '.join(ALGORITHMS)}, got {alg!r}"))
    kid = raw.get("kid")
    if not isinstance(kid, str) or not kid:
        issues.append(ConfigIssue(site.at("kid"), "required: the id of the signing key in the JWK set"))
    source = parse_key_source(raw, site.path, issues)
    if issues:
        raise ConfigError(issues)
    return SignerOptions(
        alg=str(alg),
        kid=str(kid),
        keys_to_sign=tuple(str(k) for k in raw.get("keys_to_sign") or ()),
        source=source,
        full=bool(raw.get("full", False)),
        typ=str(raw.get("typ") or "JWT"),
    )


async def build(options: SignerOptions, site: Site, resources: Resources) -> Middleware | None:
    """The signing key set is loaded at start-up (and, beyond KrakenD, refreshed like a validator's)."""
    from krakenpy.jose.build import key_source
    from krakenpy.jose.options import DEFAULT_CACHE_DURATION
    from krakenpy.jose.signer import signer_middleware

    source = key_source(options.source, site.path, resources, refresh=DEFAULT_CACHE_DURATION)
    endpoint = site.endpoint.endpoint if site.endpoint is not None else ""
    return signer_middleware(options, source, endpoint=endpoint)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=parse,
    summary="signs objects of the answer (keys_to_sign) as JWS tokens; 400 on proxy or signing errors",
    endpoint=build,
    ignored={
        "cipher_suites": "the JWK download uses Python's TLS defaults",
        "leeway": "a signer checks no token",
    },
)
