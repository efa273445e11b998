"""``grpc.server`` options, parsed without I/O: each published method becomes an endpoint-shaped
workflow (:class:`~krakenpy.config.model.EndpointConfig`) whose components the gateway parses and
builds as an endpoint's, as ``ai/mcp`` tools do. Whether the service and method exist in the catalog
is checked when the server is built (the catalog is read then)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from krakenpy.config.build import build_endpoint
from krakenpy.config.model import EndpointConfig
from krakenpy.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from krakenpy.components.base import Site

__all__ = ["MethodOptions", "ServerOptions", "parse_server_options"]

#: a parameter name as a ``{placeholder}`` takes it
_PARAM: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class MethodOptions:
    """One published method: where it sits in the config and the workflow it runs."""

    service: str
    method: str
    path: str
    #: lower-cased metadata names passed on as headers; ``("*",)`` passes all
    input_headers: tuple[str, ...]
    #: dot path of a request message field → the parameter name
    payload_params: Mapping[str, str]
    workflow: EndpointConfig

    @property
    def route(self) -> str:
        """The HTTP/2 ``:path`` of the method (``/package.Service/Method``)."""
        return f"/{self.service}/{self.method}"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """The published methods of every service."""

    methods: tuple[MethodOptions, ...]


def _method(raw: Mapping[str, Any], service: str, at: str, site: Site) -> MethodOptions:
    name = str(raw["name"])
    params = {str(k): str(v) for k, v in (raw.get("payload_params") or {}).items() if not str(k).startswith("@")}
    issues = [
        ConfigIssue(f"{at}.payload_params.{field}", f"{param!r} is not a parameter name")
        for field, param in params.items()
        if not _PARAM.match(param)
    ]
    extra = raw.get("extra_config") or {}
    issues += [
        ConfigIssue(f"{at}.extra_config.{ns}", "not supported on a gRPC method (krakenpy runs no guard there): refused")
        for ns in extra
        if ns[:1] not in "@$_#"
    ]
    if issues:
        raise ConfigError(issues)
    # the parameters as the placeholders of a route-less endpoint, so the backends' url_pattern may use them
    placeholders = "".join(f"/{{{p}}}" for p in dict.fromkeys(params.values()))
    workflow_raw = {
        "endpoint": f"/{service}/{name}{placeholders}",
        "method": "POST",
        "input_headers": list(raw.get("input_headers") or ()),
        "backend": raw["backend"],
    }
    workflow = build_endpoint(workflow_raw, path=at, service=site.service)
    headers = tuple(h.lower() for h in raw.get("input_headers") or ())
    return MethodOptions(service, name, at, ("*",) if "*" in headers else headers, params, workflow)


def parse_server_options(raw: Any, path: str, site: Site) -> ServerOptions:
    """``grpc.server``: the schema checked the shapes; a method published twice is an error."""
    methods: list[MethodOptions] = []
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for i, service in enumerate(raw.get("services") or ()):
        for j, method in enumerate(service.get("methods") or ()):
            at = f"{path}.services[{i}].methods[{j}]"
            key = (str(service["name"]), str(method["name"]))
            if key in seen:
                issues.append(ConfigIssue(f"{at}.name", f"/{key[0]}/{key[1]} is published twice"))
                continue
            seen.add(key)
            try:
                methods.append(_method(method, key[0], at, site))
            except ConfigError as exc:
                issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return ServerOptions(tuple(methods))
