"""``auth/api-keys`` (KrakenD Enterprise field names): the service block declares keys and how they are
read, an endpoint block names the roles allowed there. Missing or unknown key: 401; wrong role: 403."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, cast

from krakenpy.components.base import Component, Site
from krakenpy.credentials.apikeys import HASHES, ApiKey, KeyRing
from krakenpy.errors import ConfigError, ConfigIssue, Rejection
from krakenpy.fingerprint import configured_key
from krakenpy.names import canonical_header, valid_header_name, valid_header_value
from krakenpy.proxy.guard import HANDLER_HEADERS, Guard, GuardCheck, forwarded_headers
from krakenpy.proxy.request_builder import query_changed
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision
from krakenpy.telemetry.setup import register_credentials

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "auth/api-keys"
log = logging.getLogger("krakenpy.auth")
Strategy: TypeAlias = Literal["header", "query_string"]


@dataclass(frozen=True, slots=True)
class ServiceKeys:
    keys: tuple[tuple[str, tuple[str, ...]], ...]
    hash: str = "plain"
    salt: str = ""
    strategy: Strategy = "header"
    identifier: str = ""
    propagate_role: str = ""


@dataclass(frozen=True, slots=True)
class EndpointKeys:
    roles: tuple[str, ...]
    strategy: Strategy | None = None
    identifier: str = ""


def _service(raw: Mapping[str, Any], path: str, issues: list[ConfigIssue]) -> ServiceKeys:
    keys: list[tuple[str, tuple[str, ...]]] = []
    propagate = str(raw.get("propagate_role") or "")
    if propagate and not valid_header_name(propagate):  # Go's client would refuse every request carrying it
        issues.append(ConfigIssue(f"{path}.propagate_role", f"invalid header field name {propagate!r}"))
    for i, entry in enumerate(raw.get("keys") or ()):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str) or not entry["key"]:
            issues.append(ConfigIssue(f"{path}.keys[{i}].key", "required: the key (or its digest)"))
            continue
        roles = tuple(str(r) for r in entry.get("roles") or ())
        for j, role in enumerate(roles):
            if propagate and not valid_header_value(role):  # the roles are that header's value
                message = "invalid header field value (propagate_role): control characters are not allowed"
                issues.append(ConfigIssue(f"{path}.keys[{i}].roles[{j}]", message))
        keys.append((entry["key"], roles))
    mode = str(raw.get("hash") or "plain")
    if mode not in HASHES:
        issues.append(ConfigIssue(f"{path}.hash", f"one of {', '.join(HASHES)}"))
    strategy = str(raw.get("strategy") or "header")
    if strategy not in ("header", "query_string"):
        issues.append(ConfigIssue(f"{path}.strategy", "header or query_string"))
        strategy = "header"
    return ServiceKeys(
        keys=tuple(keys),
        hash=mode,
        salt=str(raw.get("salt") or ""),
        strategy=cast(Strategy, strategy),
        identifier=str(raw.get("identifier") or ""),
        propagate_role=propagate,
    )


def parse(raw: Any, site: Site) -> ServiceKeys | EndpointKeys:
    """Service: the keys; endpoint: the roles (and optional ``strategy``/``identifier`` overrides)."""
    issues: list[ConfigIssue] = []
    if site.level == "service":
        options: ServiceKeys | EndpointKeys = _service(raw, site.path, issues)
        _note_key(raw, site)
    else:
        if not isinstance(site.service.extra_config.get(NAMESPACE), Mapping):
            issues.append(ConfigIssue(site.path, "needs the service-level auth/api-keys block declaring the keys"))
        if raw.get("client_max_rate") is not None:
            issues.append(ConfigIssue(site.at("client_max_rate"), "per-key rate limits are not supported by krakenpy"))
        strategy = raw.get("strategy")
        options = EndpointKeys(
            roles=tuple(str(r) for r in raw.get("roles") or ()),
            strategy=cast(Strategy, strategy) if strategy in ("header", "query_string") else None,
            identifier=str(raw.get("identifier") or ""),
        )
    if issues:
        raise ConfigError(issues)
    return options


def _note_key(raw: Any, site: Site) -> None:
    """``check``/``run`` warn when the variable ``fingerprint_key_env`` names is unset or empty (the
    ``key_id`` s then come from a random key per run; ``check --lint``: an error), and when no
    ``fingerprint_key_env`` is named here nor in ``telemetry/audit`` (the same; a warning, never a
    ``--lint`` error: KrakenD's own api-keys configurations have no such key). Both follow from the
    configuration alone: ``check --skip-components`` says them too."""
    name = raw.get("fingerprint_key_env") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name and not os.environ.get(name):
        message = f"environment variable {name} is not set or empty: {_RANDOM_KEY}"
        site.notes.append(ConfigIssue(site.at("fingerprint_key_env"), message, "warning"))
    if configured_key(site.service.extra_config)[0] == "":
        message = f"no fingerprint_key_env (here or in telemetry/audit): {_RANDOM_KEY}"
        site.advice.append(ConfigIssue(site.path, message, "warning"))


#: what a configuration without a fingerprint key gets
_RANDOM_KEY: Final = (
    "the keys' key_id (logs, audit, claims) is keyed by a random key per run, so a key reads "
    "differently after a restart and on each instance (and a Redis limit keyed by key_id counts per instance)"
)


def _source(strategy: Strategy, identifier: str, resources: Resources) -> str:
    """The header or query parameter keys are read from; telemetry masks it from now on."""
    name = identifier or ("Authorization" if strategy == "header" else "key")
    if strategy == "header":
        register_credentials(resources, headers=(name,))
    else:
        register_credentials(resources, query_keys=(name,))
    return name


async def build(options: ServiceKeys | EndpointKeys, site: Site, resources: Resources) -> Middleware | None:
    """Only endpoint blocks guard; the service block is read by them. Built first at service level,
    before any endpoint: the identifier is registered with the telemetry's redactor there."""
    if not isinstance(options, EndpointKeys):
        _source(options.strategy, options.identifier, resources)
        return None
    service = _service(site.service.extra_config[NAMESPACE], "extra_config." + NAMESPACE, [])
    _, fingerprint_key = configured_key(site.service.extra_config)
    ring = KeyRing(service.keys, mode=cast(Any, service.hash), salt=service.salt, fingerprint_key=fingerprint_key)
    strategy = options.strategy or service.strategy
    name = _source(strategy, options.identifier or service.identifier, resources)
    header = canonical_header(name)
    allowed = frozenset(options.roles)
    roles = options.roles
    propagate = canonical_header(service.propagate_role) if service.propagate_role else ""

    if strategy == "query_string":
        return _query_guard(ring, allowed, roles, propagate, name)

    def check_for(set_role: bool) -> GuardCheck:
        async def check(request: Request, headers: Headers) -> None:
            values = headers.get(header)
            value = values[0] if values else None
            if not value:
                raise Rejection(401, reason="no_credentials", policy=NAMESPACE, detail="no API key")
            key = _admit(ring, allowed, value[7:] if value[:7].lower() == "bearer " else value)
            request.claims = {"key_id": key.key_id, "roles": list(key.roles)}
            audit_decision(request.context, policy=NAMESPACE)
            if set_role:  # EE: the first of the endpoint's roles the key has ("ANY" when none is asked)
                request.headers[propagate] = [next((role for role in roles if role in key.roles), "ANY")]

        return check

    # on the filtered request the role header is set only when the endpoint forwards it (the input
    # filter would drop it); one the handler writes keeps the unfiltered path
    forwarded = forwarded_headers(site.endpoint.input_headers) if site.endpoint is not None else None
    unfiltered = check_for(bool(propagate))
    filtered = unfiltered if forwarded is None or propagate in forwarded else check_for(False)
    return Guard((header,), unfiltered, None if propagate in HANDLER_HEADERS else filtered)


def _admit(ring: KeyRing, allowed: frozenset[str], value: str) -> ApiKey:
    """The key ``value`` names, allowed on this endpoint; else a 401/403 :class:`Rejection`."""
    key = ring.find(value)
    if key is None:
        raise Rejection(401, reason="credentials_invalid", policy=NAMESPACE, detail="unknown API key")
    if allowed and allowed.isdisjoint(key.roles):
        raise Rejection(403, reason="role_missing", policy=NAMESPACE, detail=f"key {key.key_id}: role")
    return key


def _query_guard(
    ring: KeyRing, allowed: frozenset[str], roles: tuple[str, ...], propagate: str, name: str
) -> Middleware:
    """The ``query_string`` strategy: a middleware on the unfiltered request (it reads the query)."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def guarded(request: Request) -> Response:
            values = request.query.get(name)
            if not values or not values[0]:
                raise Rejection(401, reason="no_credentials", policy=NAMESPACE, detail="no API key")
            key = _admit(ring, allowed, values[0])
            request.claims = {"key_id": key.key_id, "roles": list(key.roles)}
            audit_decision(request.context, policy=NAMESPACE)
            if propagate:  # EE: the first of the endpoint's roles the key has ("ANY" when none is asked)
                request.headers[propagate] = [next((role for role in roles if role in key.roles), "ANY")]
            request.query.pop(name, None)  # the key is a credential: never forwarded
            query_changed(request)  # nor shown by router Lua's ctx:url()
            return await next_proxy(request)

        return guarded

    return middleware


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="API keys with roles (header or query string; keys held hashed): 401/403",
    edition="ee",
    endpoint=build,
)
