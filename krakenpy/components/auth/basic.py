"""``auth/basic`` (KrakenD Enterprise field names): HTTP basic auth against an htpasswd file and inline
``users`` (inline wins). A service block declares the users; an endpoint block (``{}``) protects the
endpoint. Bad or missing credentials: 401 with ``WWW-Authenticate``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.credentials.htpasswd import PasswordCheck, load_users, supported
from krakenpy.errors import ConfigError, ConfigIssue, Rejection
from krakenpy.proxy.guard import Guard
from krakenpy.proxy.types import Headers, Middleware, Request
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "auth/basic"
_CHALLENGE: Final = (("WWW-Authenticate", 'Basic realm="Restricted"'),)


@dataclass(frozen=True, slots=True)
class BasicOptions:
    level: str
    htpasswd_path: str = ""
    users: Mapping[str, str] = field(default_factory=dict)


def parse(raw: Any, site: Site) -> BasicOptions:
    """Service: ``htpasswd_path`` and/or ``users``; endpoint: the block switches protection on."""
    issues: list[ConfigIssue] = []
    users = raw.get("users") or {}
    for name, hashed in users.items():
        if not isinstance(hashed, str) or not supported(hashed):
            issues.append(ConfigIssue(site.at("users", name), "bcrypt ($2y$), {SHA} or plain text"))
    if site.level == "endpoint" and not isinstance(site.service.extra_config.get(NAMESPACE), Mapping) and not users:
        issues.append(ConfigIssue(site.path, "needs users: the service-level auth/basic block or inline users"))
    if issues:
        raise ConfigError(issues)
    return BasicOptions(site.level, str(raw.get("htpasswd_path") or ""), dict(users))


async def _users(options: BasicOptions, site: Site, resources: Resources) -> dict[str, str]:
    users: dict[str, str] = {}
    if options.htpasswd_path:
        path = Path(options.htpasswd_path)
        path = path if path.is_absolute() else resources.base_dir / path
        try:
            users = load_users(path)
        except OSError as exc:
            raise ConfigError([ConfigIssue(site.at("htpasswd_path"), f"cannot read {path}: {exc.strerror}")]) from None
    users.update(options.users)
    return users


async def build(options: BasicOptions, site: Site, resources: Resources) -> Middleware | None:
    """Users are read once (service block, then the endpoint's own inline users)."""
    if options.level == "service":
        return None
    service_raw = site.service.extra_config.get(NAMESPACE)
    users: dict[str, str] = {}
    if isinstance(service_raw, Mapping):
        service_site = Site("service", f"extra_config.{NAMESPACE}", site.service)
        users = await _users(parse(service_raw, service_site), service_site, resources)
    users.update(options.users)
    check = PasswordCheck(users)

    async def guard(request: Request, headers: Headers) -> None:
        values = headers.get("Authorization")
        value = values[0] if values else ""
        if value[:6].lower() != "basic ":
            raise Rejection(401, reason="no_credentials", policy=NAMESPACE, headers=_CHALLENGE)
        try:
            # non-ASCII text is not base64 (b64decode raises ValueError on it); the decoded bytes
            # are compared as sent, so bytes that are not UTF-8 are a wrong password, not an error
            decoded = base64.b64decode(value[6:].strip(), validate=True)
            user, sep, password = decoded.decode("utf-8", "surrogateescape").partition(":")
        except ValueError:
            user, sep, password = "", "", ""
        if not sep or not await check.check(user, password):
            raise Rejection(
                401, reason="credentials_invalid", policy=NAMESPACE, detail="bad credentials", headers=_CHALLENGE
            )
        request.claims = {"sub": user}
        audit_decision(request.context, policy=NAMESPACE)

    # it sets no header: the same check runs on the filtered request
    return Guard(("Authorization",), guard, guard)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="HTTP basic auth (htpasswd bcrypt/SHA/plain and inline users): 401",
    edition="ee",
    endpoint=build,
)
