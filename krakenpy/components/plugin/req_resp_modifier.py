"""``plugin/req-resp-modifier`` (endpoint, backend): KrakenD's request/response modifier plugins.
krakenpy builds in ``content-replacer`` (:mod:`~krakenpy.components.plugin.content_replacer`), inside
the endpoint's proxy stack (the merged answer) or the backend's (its answer before the merge); a
value that names no plugin has no effect; a named Go plugin is refused or warned about by
:mod:`krakenpy.server.settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.plugin import built_in_names
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "ModifierPlugins", "NAMESPACE"]

NAMESPACE: Final = "plugin/req-resp-modifier"


@dataclass(frozen=True, slots=True)
class ModifierPlugins:
    #: ``content-replacer``'s options, when named
    content_replacer: Any = None


def _parse(raw: Mapping[str, Any], site: Site) -> ModifierPlugins:
    names = built_in_names(raw, site, NAMESPACE)
    if "content-replacer" not in names:
        return ModifierPlugins()
    from krakenpy.components.plugin.content_replacer import parse

    value = raw.get("content-replacer")
    if not isinstance(value, Mapping):
        raise ConfigError(
            [ConfigIssue(site.at("content-replacer"), "'content-replacer' is in name but its object is missing")]
        )
    return ModifierPlugins(parse(value, replace(site, path=site.at("content-replacer"))))


async def _build(options: ModifierPlugins, site: Site, resources: Resources) -> Middleware | None:
    if options.content_replacer is None or not options.content_replacer.rules:
        return None
    from krakenpy.components.plugin.content_replacer import content_replacer

    return content_replacer(options.content_replacer)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="KrakenD's request/response modifier plugins, built in by name: content-replacer (literal or "
    "regexp replacement in string fields); other names need Go",
    edition="ce",
    proxy=_build,
    backend=_build,
    strict=True,  # a typo inside content-replacer's rules is an error; other plugins' objects are open
)
