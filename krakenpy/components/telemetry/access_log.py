"""``telemetry/access_log`` (krakenpy, service): the access log (gin's line by default, or JSON,
Common, Combined), request ids, and the redaction lists every telemetry output shares.

Always built, even when absent: it carries the per-layer telemetry of every request (access log,
request id, failure logs; spans, metrics and audit when their namespaces are configured), reading
the gateway's hub (:func:`krakenpy.telemetry.setup.hub_for`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from krakenpy.backends.client import ClientMiddleware
from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources
from krakenpy.telemetry.layers.audit import AuditRoute, audit_middleware
from krakenpy.telemetry.layers.backend import backend_middleware
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.layers.edge import edge_middleware
from krakenpy.telemetry.layers.endpoint import proxy_middleware
from krakenpy.telemetry.layers.lambda_context import register_client_context
from krakenpy.telemetry.overrides import backend_hub, proxy_hub
from krakenpy.telemetry.settings import AccessLogOptions, parse_access_log
from krakenpy.telemetry.setup import hub_for

if TYPE_CHECKING:  # the audit's options: imported by telemetry/audit's component when it is set
    from krakenpy.telemetry.auditsettings import AuditOptions

__all__ = ["COMPONENT"]

NAMESPACE: Final = "telemetry/access_log"
#: an endpoint's path parameter (``{token}``)
_PARAM: Final = re.compile(r"\{([^}/]+)\}")


def _parse(raw: Any, site: Site) -> AccessLogOptions:
    options = parse_access_log(raw, site.path)
    names = options.redaction.path_params
    if names:  # a misspelt name masks nothing: said, not silently passed (--lint: an error)
        used = {m.lower() for e in site.service.endpoints for m in _PARAM.findall(e.endpoint)}
        for i, name in enumerate(names):
            if name.lower() not in used:
                message = f"no endpoint has a {{{name}}} parameter: nothing is masked for it"
                site.notes.append(ConfigIssue(site.at("redact", "path_params", i), message, "warning"))
    return options


async def _edge(options: AccessLogOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub = hub_for(resources)
    for service in hub.services:  # started once the gateway listens
        (resources.one_worker if service.one_worker else resources.on_serve).append(service.start)
        resources.stack.push_async_callback(service.stop)
    return edge_middleware(hub)


async def _endpoint(options: AccessLogOptions | None, site: Site, resources: Resources) -> Middleware | None:
    hub = hub_for(resources)
    if hub.audit is None or site.level != "service":
        return None  # only the audit needs to see guards' decisions before the input filters
    # built once at service level: the outermost middleware of every endpoint, outside the
    # service-level guards too; each endpoint's settings are looked up per request
    service: AuditOptions | None = resources.options("", "telemetry/audit")  # type: ignore[assignment]
    routes: dict[tuple[str, str], AuditRoute] = {}
    for endpoint in site.service.endpoints:
        local: AuditOptions | None = resources.options(endpoint.path, "telemetry/audit")  # type: ignore[assignment]
        chosen = local or service
        sensitive, sample = (chosen.sensitive, chosen.sample) if chosen is not None else (False, 0.0)
        routes[(endpoint.method, endpoint.endpoint)] = AuditRoute(endpoint, sensitive, sample)
    return audit_middleware(hub, routes)


async def _proxy(options: AccessLogOptions | None, site: Site, resources: Resources) -> Middleware | None:
    assert site.endpoint is not None
    return proxy_middleware(proxy_hub(hub_for(resources), resources, site.endpoint), site.endpoint)


async def _backend(options: AccessLogOptions | None, site: Site, resources: Resources) -> Middleware | None:
    assert site.endpoint is not None and site.backend is not None
    hub = backend_hub(hub_for(resources), resources, site.backend)
    if "backend/lambda" in site.backend.extra_config:
        register_client_context(hub, resources)
    return backend_middleware(hub, site.endpoint, site.backend)


async def _client(options: AccessLogOptions | None, site: Site, resources: Resources) -> ClientMiddleware | None:
    assert site.endpoint is not None and site.backend is not None
    return client_middleware(backend_hub(hub_for(resources), resources, site.backend), site.endpoint, site.backend)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="access log (gin, json, common, combined), request ids, redaction; per-request telemetry (always on)",
    edition="krakenpy",
    edge=_edge,
    endpoint=_endpoint,
    proxy=_proxy,
    backend=_backend,
    client=_client,
    always=True,
)
