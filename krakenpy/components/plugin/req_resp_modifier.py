"""``plugin/req-resp-modifier`` (endpoint, backend): KrakenD's request/response modifier plugins.
None is built in yet: the namespace only says what it runs (a value that names no plugin has no
effect; a named Go plugin is refused or warned about by :mod:`krakenpy.server.settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.plugin import built_in_names
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "ModifierPlugins", "NAMESPACE"]

NAMESPACE: Final = "plugin/req-resp-modifier"


@dataclass(frozen=True, slots=True)
class ModifierPlugins:
    names: tuple[str, ...] = ()


def _parse(raw: Mapping[str, Any], site: Site) -> ModifierPlugins:
    return ModifierPlugins(built_in_names(raw, site, NAMESPACE))


async def _proxy(options: ModifierPlugins, site: Site, resources: Resources) -> Middleware | None:
    return None  # no built-in modifier yet: a Go plugin's work is refused by the settings check


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="KrakenD's request/response modifier plugins: none built in yet (a named Go plugin is refused "
    "unless --allow-unsupported)",
    edition="ce",
    proxy=_proxy,
    backend=_proxy,
    strict=False,
)
