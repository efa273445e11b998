"""Service discovery: where a backend's hosts come from when they are not written in the config."""

from __future__ import annotations

from typing import Final

__all__ = ["MODES"]

#: the ``sd`` values whose hosts come from DNS SRV records (:mod:`krakenpy.sd.dnssrv`, imported only
#: when a backend uses one)
MODES: Final = frozenset({"dns", "dns-shared"})
