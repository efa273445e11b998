"""Shadow backends (backend ``proxy.shadow: true``): called in the background with a copy of the
request; their answers are ignored and they take no part in the merge (lura ``proxy/shadow.go``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from krakenpy.config.durations import parse_duration
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.tasks import spawn

__all__ = ["is_shadow", "shadow_middleware", "shadow_timeout"]

log = logging.getLogger("krakenpy.shadow")


def is_shadow(extra: Mapping[str, Any]) -> bool:
    return bool((extra.get("proxy") or {}).get("shadow", False))


def shadow_timeout(extra: Mapping[str, Any], default: float) -> float:
    value = (extra.get("proxy") or {}).get("shadow_timeout")
    return parse_duration(value) if value else default


async def _call(proxy: Proxy, request: Request, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await proxy(request)
    except Exception as exc:  # a shadow failure must never reach the client
        log.debug("shadow backend failed: %s", exc)


def shadow_middleware(shadows: Sequence[tuple[Proxy, float]]) -> Middleware | None:
    """Fire every shadow proxy, then answer with the real pipeline; ``None`` without shadows."""
    if not shadows:
        return None
    targets = tuple(shadows)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def shadowed(request: Request) -> Response:
            for proxy, timeout in targets:
                _ = spawn(_call(proxy, request.clone(), timeout))
            return await next_proxy(request)

        return shadowed

    return middleware
