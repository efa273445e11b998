"""``server/static-filesystem`` (service, KrakenD Enterprise field names): serve a folder on a path
prefix, before the router (edge layer, innermost: after CORS, security/http and the bot detector, so
static answers get the same host check, security headers and CORS as every other answer).

The engine is :mod:`krakenpy.staticfs`; this module parses the options and warns about endpoints the
prefix hides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "DEFAULT_MAX_FILE_SIZE", "NAMESPACE", "StaticServerOptions"]

NAMESPACE: Final = "server/static-filesystem"
DEFAULT_MAX_FILE_SIZE: Final = 16 * 1024 * 1024
#: endpoints named in the warning about shadowed endpoints before "and N more"
_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class StaticServerOptions:
    prefix: str
    path: str
    skip: tuple[str, ...] = ()
    directory_listing: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE


def _parse(raw: Mapping[str, Any], site: Site) -> StaticServerOptions:
    prefix = str(raw["prefix"])
    if "\\" in prefix or "/../" in prefix + "/" or "/./" in prefix + "/":
        raise ConfigError([ConfigIssue(site.at("prefix"), "a prefix is a clean URL path (no '.', '..' or '\\')")])
    return StaticServerOptions(
        prefix=prefix,
        path=str(raw["path"]),
        skip=tuple(str(s) for s in raw.get("skip") or ()),
        directory_listing=bool(raw.get("directory_listing", False)),
        max_file_size=int(raw.get("max_file_size", DEFAULT_MAX_FILE_SIZE)),
    )


def _shadowed(options: StaticServerOptions, site: Site) -> list[str]:
    """Endpoints whose path the prefix claims: they are never reached (a KrakenD footgun made visible)."""
    found: list[str] = []
    for endpoint in site.service.endpoints:
        literal = endpoint.endpoint.split("{", 1)[0]  # the fixed start of the route
        if literal.startswith(options.prefix) and not any(literal.startswith(s) for s in options.skip):
            found.append(f"{endpoint.method} {endpoint.endpoint}")
    router = site.service.router
    health = router.health_path
    if (
        not router.disable_health
        and health.startswith(options.prefix)
        and not any(health.startswith(s) for s in options.skip)
    ):
        found.append(f"GET {health} (health)")
    return found


async def _edge(options: StaticServerOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.staticfs import Folder
    from krakenpy.staticfs.server import StaticSite, static_middleware

    if options is None:
        return None
    configured = os.path.normpath(os.path.join(resources.base_dir, options.path))
    if os.path.exists(configured) and not os.path.isdir(configured):
        raise ConfigError([ConfigIssue(site.at("path"), f"{configured} is not a folder")])
    folder = Folder(os.path.abspath(configured))
    if folder.real() is None:
        resources.warnings.append(
            f"{site.at('path')}: folder {configured} does not exist (yet): requests under "
            f"{options.prefix!r} answer 404 until it does"
        )
    shadowed = _shadowed(options, site)
    if shadowed:
        more = f" and {len(shadowed) - _SHOWN} more" if len(shadowed) > _SHOWN else ""
        resources.warnings.append(
            f"{site.at('prefix')}: {len(shadowed)} endpoint(s) start with {options.prefix!r} and are served as "
            f"static files, never reached: {', '.join(shadowed[:_SHOWN])}{more} (add their paths to skip)"
        )
    static = StaticSite(options.prefix, folder, options.skip, options.directory_listing, options.max_file_size)
    return static_middleware([static])


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="serves a folder on a path prefix before the router (ETag, ranges; no traversal or symlink escape)",
    edition="ee",
    edge=_edge,
)
