"""Helpers shared by edge components.

- :func:`add_before`: Go middlewares (rs/cors, unrolled/secure) write their headers on the response
  *before* calling the handler, which may add more under the same name (a ``no-op`` backend's own
  ``Vary``); krakenpy's edge middlewares see the response afterwards, so they put theirs first.
- :func:`health_route`: gin registers ``GET /__health`` before the engine middlewares, so
  ``security/http`` and the service bot detector never see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from multidict import CIMultiDict

__all__ = ["add_before", "health_route"]


def add_before(headers: CIMultiDict[str], pairs: Sequence[tuple[str, str]]) -> None:
    """Add ``pairs`` to ``headers`` as if they had been written first; values the handler wrote
    under the same names are kept, after ours."""
    for name, _ in pairs:
        if name in headers:
            break
    else:
        headers.extend(pairs)
        return
    rebuilt: CIMultiDict[str] = CIMultiDict(pairs)
    rebuilt.extend(headers)
    headers.clear()
    headers.extend(rebuilt)


def health_route(service_extra_config: Mapping[str, Any]) -> str | None:
    """The path of the built-in health route (``router.health_path``, default ``/__health``), or
    ``None`` when ``router.disable_health`` turns it off."""
    router = service_extra_config.get("router")
    if not isinstance(router, Mapping):
        return "/__health"
    if router.get("disable_health") is True:
        return None
    path = router.get("health_path")
    return path if isinstance(path, str) and path else "/__health"
