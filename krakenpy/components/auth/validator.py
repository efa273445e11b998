"""``auth/validator``: JWT validation at the endpoint layer (krakend-jose), plus the service-level value
that only carries ``shared_cache_duration``. The work is done by :mod:`krakenpy.jose`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.guard import forwarded_headers
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources
from krakenpy.telemetry.setup import register_credentials

if TYPE_CHECKING:  # krakenpy.jose (joserfc, cryptography) is imported by parse/build: only configs using JWT
    from krakenpy.jose.options import SharedCacheOptions, ValidatorOptions

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "auth/validator"
Options: TypeAlias = "ValidatorOptions | SharedCacheOptions"


def parse(raw: Any, site: Site) -> Options:
    """Endpoint: the validator options; service: the shared cache duration."""
    from krakenpy.jose.options import parse_shared, parse_validator

    if site.level == "service":
        return parse_shared(raw)
    issues: list[ConfigIssue] = []
    options = parse_validator(raw, site.path, issues)
    if any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    site.notes.extend(issues)  # warnings only: the validator runs, rejecting what it cannot verify
    return options


def _shared_duration(site: Site) -> float | None:
    from krakenpy.jose.options import parse_shared

    raw = site.service.extra_config.get(NAMESPACE)
    return parse_shared(raw).shared_cache_duration if isinstance(raw, Mapping) else None


async def build(options: Options, site: Site, resources: Resources) -> Middleware | None:
    """One validator per endpoint over the gateway's shared key source for its JWK set."""
    from krakenpy.components.auth.revoker import revocation_check
    from krakenpy.jose.build import key_source
    from krakenpy.jose.middleware import jwt_params, validator_middleware
    from krakenpy.jose.options import ValidatorOptions
    from krakenpy.jose.validator import JwtValidator

    if not isinstance(options, ValidatorOptions):
        return None  # the service value only tunes the endpoints' key refresh
    # a token in another header than Authorization, or in a cookie (Cookie values are masked already)
    register_credentials(resources, headers=(options.auth_header_name,))
    refresh = options.refresh
    if refresh is None:  # cache: true without cache_duration
        refresh = _shared_duration(site) or 900.0
    source = key_source(options.source, site.path, resources, refresh=refresh, cooldown=options.failed_jwk_key_cooldown)
    validator = JwtValidator(options, source, revoked=revocation_check(resources))
    endpoint = site.endpoint
    if endpoint is None:
        return validator_middleware(validator)
    params = jwt_params([key for b in endpoint.backends for key in (*b.url_keys, *b.host_keys)])
    forwarded = forwarded_headers(endpoint.input_headers)
    return validator_middleware(validator, params=params, endpoint=endpoint.endpoint, forwarded=forwarded)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="JWT validation (JWK set by URL or file, roles, scopes, claims to headers and URLs): 401/403",
    endpoint=build,
    ignored={
        "jwk_client": "as in KrakenD: a KrakenD 1.x field that KrakenD 2 ignores",
        "propagate_token": "as in KrakenD: a KrakenD 1.x field that KrakenD 2 ignores",
        "cipher_suites": "the JWK download uses Python's TLS defaults",
    },
)
