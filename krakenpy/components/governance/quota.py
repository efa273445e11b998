"""``governance/quota`` (KrakenD Enterprise): attach a quota processor to the service or an endpoint.

At endpoint level the attachment counts that endpoint's requests (weighted by ``weight_key`` when
set); at service level every endpoint's, one request one unit (KrakenD ignores ``weight_key`` there).
Like the service-wide rate limits (:mod:`krakenpy.components.qos.ratelimit`), a service-level value
is placed at each endpoint's rate-limit step, after the JWT validator and the guards that propagate
the tier header, and before the endpoint's own attachment. What a request goes through is in
:mod:`krakenpy.quota.middleware`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.governance.processors import processor
from krakenpy.components.qos.ratelimit import ServiceWide, chain, service_wide
from krakenpy.proxy.types import Middleware
from krakenpy.quota.options import QUOTA, QuotaOptions, parse_quota
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT"]

if TYPE_CHECKING:
    from krakenpy.backends.client import ClientMiddleware

_SERVICE: Final = Key("governance/quota service attachment", ServiceWide)


def _parse(raw: Any, site: Site) -> QuotaOptions:
    return parse_quota(raw, site.at, site.service.extra_config)


async def _attachment(options: QuotaOptions, site: Site, resources: Resources) -> Middleware | None:
    from krakenpy.quota.middleware import quota_middleware  # loads redis: only when attached
    from krakenpy.telemetry.setup import hub_for

    kinds = [t.tier.kind for t in options.tiers]
    if "*" in kinds[:-1]:
        resources.warnings.append(f"{site.at('tiers', kinds.index('*') + 1)}: after a '*' tier: never matches")
    weighted = bool(options.weight_key) and site.level == "endpoint"
    if options.weight_key and not weighted:
        resources.warnings.append(f"{site.at('weight_key')}: ignored at service level: each request counts 1")
    redactor = hub_for(resources).redactor
    credentials = frozenset(t.header.lower() for t in options.tiers if redactor.is_sensitive_header(t.header))
    return quota_middleware(options, processor(options.processor, site, resources), weighted, credentials)


async def _build(options: QuotaOptions | None, site: Site, resources: Resources) -> Middleware | None:
    service = await service_wide(QUOTA, site, resources, _SERVICE, _attachment)
    endpoint = await _attachment(options, site, resources) if options is not None and site.level == "endpoint" else None
    return chain(service, endpoint)


async def _client(options: QuotaOptions | None, site: Site, resources: Resources) -> ClientMiddleware | None:
    """For ``weight_strategy: header``: the backends of the endpoint keep the header for the quota
    step (a decoded answer drops the backend's headers before the step could read them)."""
    endpoint = site.endpoint
    attached = resources.options(endpoint.path, QUOTA) if endpoint is not None else None
    if not isinstance(attached, QuotaOptions) or attached.weight_strategy != "header" or not attached.weight_key:
        return None
    from krakenpy.quota.weights import header_recorder

    return header_recorder(attached.weight_key)


COMPONENT: Final[Component[QuotaOptions]] = Component(
    namespace=QUOTA,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="quota per caller and tier (a header picks the rule), weight 1 or a response number; 429 when used up",
    edition="ee",
    endpoint=_build,
    client=_client,
    always=True,  # a service-level value is placed at every endpoint's rate-limit step
)
