"""``validation/json-schema``: the request body must satisfy the namespace value, a JSON Schema
(endpoint level, proxy layer: after Lua proxy and the endpoint CEL checks).

The schema is compiled once by :mod:`krakenpy.bodyschema` (a schema that does not compile is a
configuration error at its JSON path). An empty body, a body that is not JSON and a violation are
400s rendered with KrakenD's headers (``validation/json-schema-errors`` can detail them); the body
reaches the backend unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from krakenpy.bodyschema import SchemaRejection, body_checker, compile_schema
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.setup import hub_for

if TYPE_CHECKING:
    from jsonschema_rs import Validator

__all__ = ["COMPONENT", "NAMESPACE", "SchemaOptions", "schema_middleware"]

NAMESPACE: Final = "validation/json-schema"


@dataclass(frozen=True, slots=True)
class SchemaOptions:
    """The compiled schema."""

    validator: Validator


def parse(raw: Any, site: Site) -> SchemaOptions:
    """Compile the schema; an error is located inside it (``...json-schema.properties.age.minimum``)."""
    return SchemaOptions(compile_schema(raw, site.at))


def _audit_detail(exc: SchemaRejection) -> str:
    # where and which rule, never the body's values (they may be secrets)
    if not exc.violations:
        return str(exc).split(":", 1)[0]
    first = exc.violations[0]
    return f"{len(exc.violations)} violation(s), first at '{first['instance_path']}' ({first['keyword']})"


def schema_middleware(options: SchemaOptions, redactor: Redactor | None = None) -> Middleware:
    """Check ``request.body`` before the endpoint's backends are called; ``redactor``: the gateway's,
    whose masked body fields a rejection never quotes (not in the client's answer either)."""
    check = body_checker(options.validator, redactor)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def validated(request: Request) -> Response:
            try:
                check(request.body)
            except SchemaRejection as exc:
                audit_decision(request.context, policy=NAMESPACE, decision="deny", reason="schema_invalid",
                               detail=_audit_detail(exc))  # fmt: skip
                raise
            return await next_proxy(request)

        return validated

    return middleware


async def build(options: SchemaOptions, site: Site, resources: Resources) -> Middleware | None:
    """Endpoint level only (CE wires no backend validation)."""
    return schema_middleware(options, hub_for(resources).redactor) if site.level == "endpoint" else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=parse,
    summary="JSON Schema check of the request body: 400 on empty, non-JSON or invalid bodies",
    proxy=build,
)
