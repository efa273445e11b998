"""The whole document: info, servers, tags, paths, components (KrakenD EE's ``openapi export``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.config.model import ServiceConfig
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.openapi.operations import API_KEY_SCHEME, BASIC_SCHEME, COOKIE_NAME, JWT_KEY, operation
from krakenpy.openapi.options import DocOptions

__all__ = ["NAMESPACE", "OPENAPI_VERSION", "generate"]

NAMESPACE: Final = "documentation/openapi"
#: 3.1: its Schema Object is JSON Schema 2020-12, so validation/json-schema schemas go in unchanged
OPENAPI_VERSION: Final = "3.1.0"


def _info(service: ServiceConfig, doc: Mapping[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"title": service.name or "KrakenD", "version": doc.get("version") or "1.0.0"}
    if doc.get("description"):
        info["description"] = doc["description"]
    if doc.get("terms_of_service"):
        info["termsOfService"] = doc["terms_of_service"]
    contact = {k: doc[f"contact_{k}"] for k in ("name", "email", "url") if doc.get(f"contact_{k}")}
    if contact:
        info["contact"] = contact
    if doc.get("license_name"):
        info["license"] = {"name": doc["license_name"]}
        if doc.get("license_url"):
            info["license"]["url"] = doc["license_url"]
    return info


def _servers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    if doc.get("servers"):
        servers: list[dict[str, Any]] = []
        for item in doc["servers"]:
            url = item["url"] if isinstance(item["url"], str) else str(item["url"].get("url", "/"))
            server: dict[str, Any] = {"url": url}
            if item.get("description"):
                server["description"] = item["description"]
            if item.get("variables"):
                server["variables"] = {
                    k: {"default": v} if isinstance(v, str) else dict(v) for k, v in item["variables"].items()
                }
            servers.append(server)
        return servers
    host = str(doc.get("host") or "").rstrip("/")
    base = str(doc.get("base_path") or "")
    if base and not base.startswith("/"):
        base = "/" + base
    if not host:
        return [{"url": base}] if base else []
    if "://" in host:
        return [{"url": host + base}]
    return [{"url": f"{scheme}://{host}{base}"} for scheme in doc.get("schemes") or ("http",)]


def _tags(doc: Mapping[str, Any], used: list[str]) -> list[dict[str, Any]]:
    tags: dict[str, dict[str, Any]] = {}
    for item in doc.get("tag_definition") or ():
        tag: dict[str, Any] = {"name": item["name"]}
        if item.get("description"):
            tag["description"] = item["description"]
        tags.setdefault(item["name"], tag)
    for name in [*(doc.get("tags") or ()), *used]:
        tags.setdefault(name, {"name": name})
    return list(tags.values())


def _security_schemes(service: ServiceConfig, names: Mapping[str, str], used: set[str]) -> dict[str, Any]:
    schemes: dict[str, Any] = {}
    if names["jwt"] in used:
        schemes[names["jwt"]] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    if names["cookie"] in used:
        cookies = {
            str(e.extra_config["auth/validator"]["cookie_key"])
            for e in service.endpoints
            if isinstance(e.extra_config.get("auth/validator"), Mapping)
            and e.extra_config["auth/validator"].get("cookie_key")
        }
        schemes[names["cookie"]] = {"type": "apiKey", "in": "cookie", "name": sorted(cookies)[0]}
    if API_KEY_SCHEME in used:
        keys = service.extra_config.get("auth/api-keys") or {}
        query = keys.get("strategy") == "query_string"
        name = keys.get("identifier") or ("key" if query else "Authorization")
        schemes[API_KEY_SCHEME] = {"type": "apiKey", "in": "query" if query else "header", "name": name}
    if BASIC_SCHEME in used:
        schemes[BASIC_SCHEME] = {"type": "http", "scheme": "basic"}
    return schemes


def _included(doc: DocOptions | None, audience: str | None) -> bool:
    if audience is None:
        return True
    audiences = doc.get("audience") if doc is not None else None
    return isinstance(audiences, list) and (audience in audiences or "*" in audiences)


def generate(service: ServiceConfig, docs: Mapping[str, DocOptions], *, audience: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``service``. ``docs`` maps an owner's JSON path (``""`` for the service,
    ``endpoints[3]``) to its parsed ``documentation/openapi`` value; ``audience`` keeps only the
    endpoints whose ``audience`` names it (or ``*``). Raises :class:`ConfigError` for operation ids
    used twice."""
    root = docs.get("")
    top: Mapping[str, Any] = root.raw if root is not None else {}
    names = {"jwt": str(top.get("jwt_key") or JWT_KEY), "cookie": str(top.get("cookie_name") or COOKIE_NAME)}
    defaults = not top.get("disable_default_response_definitions")
    paths: dict[str, dict[str, Any]] = {}
    used_tags: list[str] = []
    used_schemes: set[str] = set()
    operation_ids: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for endpoint in service.endpoints:
        doc = docs.get(endpoint.path)
        if not _included(doc, audience):
            continue
        op = operation(endpoint, doc, defaults=defaults, scheme_names=names)
        op_id = op.get("operationId")
        if op_id is not None:
            if op_id in operation_ids:
                issues.append(
                    ConfigIssue(
                        f"{endpoint.path}.extra_config.{NAMESPACE}.operation_id",
                        f"operation id {op_id!r} is also used by {operation_ids[op_id]}",
                    )
                )
            operation_ids.setdefault(op_id, endpoint.path)
        used_tags += [t for t in op.get("tags", ()) if t not in used_tags]
        for requirement in op.get("security", ()):
            used_schemes.update(requirement)
        paths.setdefault(endpoint.endpoint, {})[endpoint.method.lower()] = op
    if issues:
        raise ConfigError(issues, service.source)
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": _info(service, top)}
    servers = _servers(top)
    if servers:
        document["servers"] = servers
    tags = _tags(top, used_tags)
    if tags:
        document["tags"] = tags
    document["paths"] = paths
    components: dict[str, Any] = {}
    if root is not None and root.schemas:
        components["schemas"] = dict(root.schemas)
    schemes = _security_schemes(service, names, used_schemes)
    schemes.update(top.get("custom_security_schemes") or {})
    if schemes:
        components["securitySchemes"] = schemes
    if components:
        document["components"] = components
    return document
