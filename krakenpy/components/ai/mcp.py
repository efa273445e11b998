"""``ai/mcp`` (KrakenD Enterprise's MCP server): the service declares MCP servers whose tools run
KrakenD workflows; an endpoint with ``server_name`` is a server's entry point.

Endpoint layer, innermost: the endpoint's guards (JWT, API keys, rate limits...) run first, then the
MCP server answers by itself (:mod:`krakenpy.mcp.server`) and the endpoint's own backends and proxy
layer are never called (a proxy-layer namespace on the entry point is an error). Each tool's
workflow is built once, as an endpoint without a route (:attr:`~krakenpy.resources.Resources.workflow`);
a server served by several endpoints is built once.
"""

from __future__ import annotations

import re
from typing import Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.mcp.options import NAMESPACE, EntryOptions, ServiceOptions, parse
from krakenpy.mcp.server import McpServer, mcp_middleware
from krakenpy.mcp.tools import Tool
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT"]

#: the limiters that count requests at the endpoint layer (``qos/ratelimit/proxy`` counts backend calls)
_LIMITER: Final = re.compile(r"qos/ratelimit/(?!proxy$)|governance/quota$")
#: server name → its compiled server (``None``: its tools had errors, already reported)
_SERVERS: Final = Key("ai/mcp servers", dict)


async def _server(name: str, resources: Resources) -> McpServer | None:
    built = resources.state.get(_SERVERS)
    if built is None:
        built = resources.state.set(_SERVERS, {})
    if name in built:
        server: McpServer | None = built[name]
        return server
    declared = resources.options("", NAMESPACE)
    assert isinstance(declared, ServiceOptions)  # the endpoint's parse checked the name
    options = declared.servers[name]
    assert resources.workflow is not None
    from krakenpy.telemetry.setup import hub_for

    redactor = hub_for(resources).redactor  # an argument its body paths mask is never quoted back
    tools: dict[str, Tool] = {}
    for tool in options.tools:
        proxy = await resources.workflow(tool.workflow)
        if proxy is not None:
            tools[tool.name] = Tool(tool, proxy, redactor)
    complete = len(tools) == len(options.tools)
    built[name] = server = McpServer(options, tools) if complete else None
    return server


def _skipped(site: Site, resources: Resources) -> list[ConfigIssue]:
    """The entry point's proxy-layer checks and modifiers: the MCP server answers in place of the
    endpoint's proxy stack, so they would never run; an error rather than an open door."""
    from krakenpy.components import registry

    issues: list[ConfigIssue] = []
    for namespace, value in resources.parsed.get(site.owner, {}).items():
        if registry.component(namespace).proxy is None:
            continue
        where = f"{site.owner}.extra_config.{namespace}"
        if namespace == "validation/cel":
            from krakenpy.cel.phases import CelPhases

            if isinstance(value, CelPhases) and value.pre is None and value.post is None:
                continue  # JWT checks only: they run at the endpoint layer, before the server
            message = (
                "req/resp CEL checks do not run on an MCP entry point (JWT checks do): set them in a tool's workflow"
            )
        else:
            message = "does not run on an MCP entry point (the server answers, not the proxy stack): use a workflow"
        issues.append(ConfigIssue(where, message))
    return issues


def _rate_limited(site: Site, resources: Resources) -> bool:
    """Whether a limiter counts the entry point's HTTP requests (its own, or the service's for all)."""
    owners = (resources.parsed.get(site.owner, {}), resources.parsed.get("", {}))
    return any(_LIMITER.match(namespace) for values in owners for namespace in values)


async def build(options: ServiceOptions | EntryOptions, site: Site, resources: Resources) -> Middleware | None:
    """An entry point's middleware; the service-level declarations build nothing by themselves."""
    if not isinstance(options, EntryOptions):
        return None
    if resources.workflow is None:
        raise ConfigError([ConfigIssue(site.path, "MCP servers need the gateway's workflow builder")])
    skipped = _skipped(site, resources)
    if skipped:
        raise ConfigError(skipped)
    server = await _server(options.server_name, resources)
    return mcp_middleware(server, rate_limited=_rate_limited(site, resources)) if server is not None else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="MCP server over streamable HTTP (JSON answers): tools/list from the config, tools/call runs a workflow",
    edition="ee",
    endpoint=build,
    ignored={
        "servers[].ping_period": "no SSE stream is kept open, so there is no client to ping",
        "servers[].tools[].workflow.ignore_errors": "a workflow stops at its first error, as an endpoint does",
    },
)
