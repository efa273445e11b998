"""``ai/mcp`` options: the service declares MCP servers and their tools, an endpoint serves one.

Parsing is pure: the tools' JSON Schemas are compiled here (a schema that does not compile is an
error inside it) and each tool's ``workflow`` becomes an endpoint-shaped
:class:`~krakenpy.config.model.EndpointConfig` with the service's defaults, whose components the
gateway parses and builds as an endpoint's (:attr:`ServiceOptions.workflows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from krakenpy.config.build import build_endpoint
from krakenpy.config.model import EndpointConfig, ServiceConfig
from krakenpy.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from jsonschema_rs import Validator

    from krakenpy.components.base import Site

__all__ = ["NAMESPACE", "EntryOptions", "ServerOptions", "ServiceOptions", "ToolOptions", "parse"]

NAMESPACE: Final = "ai/mcp"
#: what a tool without ``input_schema`` takes: any object (MCP requires an object schema)
_ANY_OBJECT: Final[Mapping[str, Any]] = {"type": "object"}


@dataclass(frozen=True, slots=True)
class ToolOptions:
    """One tool: what ``tools/list`` says of it and the workflow ``tools/call`` runs."""

    name: str
    title: str
    description: str
    media: Literal["text", "audio", "image"]
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None
    return_error_msg: bool
    workflow: EndpointConfig
    input_validator: Validator
    output_validator: Validator | None


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """One MCP server declaration."""

    name: str
    title: str
    version: str
    instructions: str
    stateless: bool
    tools: tuple[ToolOptions, ...]


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """The service-level value: the declared servers by name."""

    servers: Mapping[str, ServerOptions]

    @property
    def workflows(self) -> tuple[EndpointConfig, ...]:
        """Every tool's workflow: the gateway parses their components as an endpoint's."""
        return tuple(tool.workflow for server in self.servers.values() for tool in server.tools)


@dataclass(frozen=True, slots=True)
class EntryOptions:
    """The endpoint-level value: the server this endpoint is the entry point of."""

    server_name: str


def parse(raw: Any, site: Site) -> ServiceOptions | EntryOptions:
    """The service's servers, or an endpoint's entry point (its server must be declared)."""
    wrong = "server_name" if site.level == "service" else "servers"
    if isinstance(raw, Mapping) and wrong in raw:
        where = "an endpoint's" if wrong == "server_name" else "the service's"
        raise ConfigError([ConfigIssue(site.at(wrong), f"{wrong} belongs in {where} ai/mcp")])
    if site.level == "service":
        if not isinstance(raw, Mapping) or "servers" not in raw:
            raise ConfigError([ConfigIssue(site.at("servers"), "the service's ai/mcp declares servers")])
        return _service(raw, site)
    name = raw.get("server_name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ConfigError([ConfigIssue(site.at("server_name"), "the name of a server of the service's ai/mcp")])
    if name not in _declared(site.service):
        raise ConfigError(
            [ConfigIssue(site.at("server_name"), f"no server {name!r} in the service's extra_config.ai/mcp.servers")]
        )
    endpoint = site.endpoint
    if endpoint is not None and endpoint.method != "POST":
        message = f"MCP clients POST to their server: with method {endpoint.method} every call is answered 405"
        site.notes.append(ConfigIssue(f"{endpoint.path}.method", message, "warning"))
    return EntryOptions(name)


def _declared(service: ServiceConfig) -> set[str]:
    raw = service.extra_config.get(NAMESPACE)
    servers = raw.get("servers") if isinstance(raw, Mapping) else None
    if not isinstance(servers, list):
        return set()
    return {s["name"] for s in servers if isinstance(s, Mapping) and isinstance(s.get("name"), str)}


def _service(raw: Any, site: Site) -> ServiceOptions:
    issues: list[ConfigIssue] = []
    servers: dict[str, ServerOptions] = {}
    for i, server in enumerate(raw.get("servers") or []):
        where = site.at("servers", i)
        name = str(server["name"])
        if name in servers:
            issues.append(ConfigIssue(f"{where}.name", f"server {name!r} is declared twice"))
            continue
        tools: list[ToolOptions] = []
        seen: set[str] = set()
        for j, tool in enumerate(server.get("tools") or []):
            at = f"{where}.tools[{j}]"
            if tool["name"] in seen:
                issues.append(ConfigIssue(f"{at}.name", f"tool {tool['name']!r} is declared twice in this server"))
                continue
            seen.add(tool["name"])
            try:
                tools.append(_tool(tool, at, site, _entry_timeout(site.service, name)))
            except ConfigError as exc:
                issues.extend(exc.issues)
        if not _entry_points(site.service, name):
            message = "no endpoint serves this server (an endpoint's ai/mcp.server_name names it): never built"
            site.notes.append(ConfigIssue(f"{where}.name", message, "warning"))
        servers[name] = ServerOptions(
            name=name,
            title=str(server.get("title", "")),
            version=str(server.get("version", "")),
            instructions=str(server.get("instructions", "")),
            stateless=bool(server.get("stateless", False)),
            tools=tuple(tools),
        )
    if issues:
        raise ConfigError(issues)
    return ServiceOptions(servers)


def _entry_points(service: ServiceConfig, server: str) -> list[EndpointConfig]:
    """The endpoints serving ``server``."""
    return [
        e
        for e in service.endpoints
        if isinstance(e.extra_config.get(NAMESPACE), Mapping) and e.extra_config[NAMESPACE].get("server_name") == server
    ]


def _entry_timeout(service: ServiceConfig, server: str) -> float:
    """KrakenD's default for a workflow's timeout is its parent endpoint's: the longest of the
    endpoints serving ``server`` (the service's when none does)."""
    return max((e.timeout for e in _entry_points(service, server)), default=service.timeout)


def _tool(raw: Mapping[str, Any], at: str, site: Site, timeout: float) -> ToolOptions:
    from krakenpy.bodyschema import compile_schema

    def located(key: str) -> Any:
        return lambda *keys: f"{at}.{key}" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)

    input_schema = raw.get("input_schema") or _ANY_OBJECT
    output_schema = raw.get("output_schema")
    workflow_raw = dict(raw["workflow"])
    if "timeout" not in workflow_raw:
        workflow_raw["timeout"] = f"{timeout}s"
    workflow = build_endpoint(workflow_raw, path=f"{at}.workflow", service=site.service)
    _workflow_namespaces(workflow, site)
    for backend in workflow.backends:
        if not backend.hosts and not _EXECUTORS.intersection(backend.extra_config):
            message = "no host here nor in the service's host: every call of the tool fails ('no hosts available')"
            site.notes.append(ConfigIssue(f"{backend.path}.host", message, "warning"))
    return ToolOptions(
        name=str(raw["name"]),
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        media=raw.get("type", "text"),
        input_schema=input_schema,
        output_schema=output_schema,
        return_error_msg=bool(raw.get("return_error_msg", False)),
        workflow=workflow,
        input_validator=compile_schema(input_schema, located("input_schema")),
        output_validator=compile_schema(output_schema, located("output_schema")) if output_schema else None,
    )


#: backend namespaces that answer without an HTTP host
_EXECUTORS: Final = frozenset({"backend/lambda", "backend/static-filesystem"})
#: namespaces that guard who may call: on a workflow they would guard nothing (only the proxy layer
#: runs there), so they are errors instead of warnings
_GUARDS: Final = ("auth/", "security/", "qos/ratelimit/", "validation/")


def _workflow_namespaces(workflow: EndpointConfig, site: Site) -> None:
    """A warning per implemented namespace of the workflow that does not run there (the config checks
    report unimplemented ones); a guard on the workflow itself is an error."""
    from krakenpy.components import registry

    owners: list[tuple[str, Mapping[str, Any], bool]] = [(workflow.path, workflow.extra_config, True)]
    owners += [(b.path, b.extra_config, False) for b in workflow.backends]
    issues: list[ConfigIssue] = []
    for owner, extra, is_workflow in owners:
        for namespace in extra:
            where = f"{owner}.extra_config.{namespace}"
            if namespace[:1] in "@$_#" or namespace in ("proxy", "backend/http", "backend/http/client"):
                continue
            if namespace not in registry.NAMESPACES:
                continue  # the config checks warn (or refuse an access-control one) at this path
            if is_workflow and registry.component(namespace).proxy is None:
                if namespace.startswith(_GUARDS):
                    issues.append(ConfigIssue(where, "a workflow runs no guard: set it on the MCP entry point"))
                else:
                    message = "not run in a workflow (only proxy-layer namespaces are): ignored"
                    site.notes.append(ConfigIssue(where, message, "warning"))
    if issues:
        raise ConfigError(issues)
