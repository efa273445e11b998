"""The ``plugin/*`` namespaces: KrakenD's Go plugins, called by name. krakenpy cannot load ``.so``
files; it builds in the well-known KrakenD Enterprise plugins instead, one small module each, and a
namespace dispatches its ``name`` list to them. Names that are not built in are left to
:mod:`krakenpy.server.settings` (refused, or a warning, as a Go plugin always was).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Site
from krakenpy.config.namespaces import BUILT_IN_PLUGINS, plugin_names
from krakenpy.errors import ConfigIssue

__all__ = ["NO_PLUGIN", "built_in_names"]

#: the note of a namespace that names no plugin (046's legacy handler block)
NO_PLUGIN: Final = "names no plugin: no effect (KrakenD runs only the plugins its name lists)"


def built_in_names(raw: Any, site: Site, namespace: str) -> tuple[str, ...]:
    """The built-in plugins ``raw`` names, in ``name`` order (each once). Leaves a note when it names
    none, and at each built-in plugin's object that ``name`` leaves out (KrakenD does not run it)."""
    names = plugin_names(raw)
    if not names:
        site.notes.append(ConfigIssue(site.path, NO_PLUGIN, "warning"))
    known = BUILT_IN_PLUGINS[namespace]
    if isinstance(raw, Mapping):
        for key in raw:
            if key in known and key not in names:
                site.notes.append(
                    ConfigIssue(site.at(key), f"{key!r} is not in name: not run, as in KrakenD", "warning")
                )
    return tuple(dict.fromkeys(name for name in names if name in known))
