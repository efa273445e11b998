"""``plugin/http-client`` (backend): KrakenD's client plugin of one backend, its ``name`` one string.
krakenpy builds in ``no-redirect`` (``krakend-redirect`` in KrakenD 1.x): the same switch as
``backend/http/client``'s ``no_redirect``, set by the model (:mod:`krakenpy.config.build`), so the
backend's 3xx is its answer (kept with ``no-op`` encoding, an error otherwise) and never followed;
``static-filesystem``: the backend answers from a file, as ``backend/static-filesystem``; and
``wildcard``: the backend path gets the rest of a path ``plugin/http-server``'s ``wildcard`` routed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.plugin import built_in_names
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "ClientPlugin", "NAMESPACE"]

NAMESPACE: Final = "plugin/http-client"


@dataclass(frozen=True, slots=True)
class ClientPlugin:
    #: the built-in plugin named ("" when ``name`` names another one)
    name: str = ""
    #: ``static-filesystem``'s options (``backend/static-filesystem``'s)
    static: Any = None


def _parse(raw: Mapping[str, Any], site: Site) -> ClientPlugin:
    names = built_in_names(raw, site, NAMESPACE)
    name = names[0] if names else ""
    if name == "static-filesystem":
        from krakenpy.components.backend.static_filesystem import COMPONENT as STATIC

        value = raw.get(name)
        if not isinstance(value, Mapping):
            raise ConfigError([ConfigIssue(site.at(name), f"{name!r} is the name but its object is missing")])
        return ClientPlugin(name, STATIC.parse(value, replace(site, path=site.at(name))))
    backend = site.backend
    if name in ("no-redirect", "krakend-redirect") and backend is not None and backend.encoding != "no-op":
        site.notes.append(
            ConfigIssue(
                site.path,
                f"{name} with {backend.encoding!r} encoding: a 3xx answer fails the backend (only no-op passes it on)",
                "warning",
            )
        )
    return ClientPlugin(name)


async def _backend(options: ClientPlugin, site: Site, resources: Resources) -> Middleware | None:
    if options.name != "wildcard":
        return None
    from krakenpy.components.plugin.wildcard import append_rest

    return append_rest()


async def _executor(options: ClientPlugin, site: Site, resources: Resources) -> Proxy | None:
    if options.static is None:
        # no-redirect is the core HTTP executor's own switch (HttpClientOptions.no_redirect): nothing to build
        return None
    from krakenpy.components.backend.static_filesystem import COMPONENT as STATIC

    assert STATIC.executor is not None
    return await STATIC.executor(options.static, replace(site, path=site.at(options.name)), resources)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="KrakenD's client plugin of a backend, built in by name: no-redirect (a 3xx is answered, not "
    "followed), static-filesystem (a file is the answer), wildcard (the rest of the path appended); "
    "other names need Go",
    edition="ce",
    backend=_backend,
    executor=_executor,
    strict=True,  # a typo inside static-filesystem's object is an error; other plugins' objects are open
)
