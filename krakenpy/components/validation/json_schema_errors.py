"""``validation/json-schema-errors`` (krakenpy extension, krakend-ce#310): JSON details for requests
that ``validation/json-schema`` rejects.

It has no builder of its own: :mod:`krakenpy.components.validation.json_schema` reads it, at the
endpoint or else at the service level. KrakenD ignores the namespace, so a config using it still runs
there (with KrakenD's plain 400s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.bodyschema import ErrorDetails
from krakenpy.components.base import Component, Site

__all__ = ["COMPONENT", "NAMESPACE", "details_for", "parse"]

NAMESPACE: Final = "validation/json-schema-errors"


def parse(raw: Any, site: Site | None = None) -> ErrorDetails:
    """The schema checked the types and ranges; missing fields take their defaults."""
    value = raw if isinstance(raw, Mapping) else {}
    return ErrorDetails(max_details=int(value.get("max_details", 10)), status=int(value.get("status", 400)))


def details_for(site: Site) -> ErrorDetails | None:
    """The endpoint's value, else the service's, else ``None`` (KrakenD's behaviour)."""
    raw = site.endpoint.extra_config.get(NAMESPACE) if site.endpoint is not None else None
    if raw is None:
        raw = site.service.extra_config.get(NAMESPACE)
    return None if raw is None else parse(raw)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="JSON body (instance path, keyword, message) for rejected request bodies, opt-in",
    edition="krakenpy",
)
