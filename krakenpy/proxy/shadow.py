"""Shadow backends (backend ``proxy.shadow: true``): called in the background with a copy of the
request; their answers are ignored and they take no part in the merge (lura ``proxy/shadow.go``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.tasks import spawn

__all__ = ["shadow_middleware"]

log = logging.getLogger("krakenpy.shadow")


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
