"""Per-backend stacks (lura ``proxy/factory.go`` ``newStack``), outermost first:

concurrent calls → request builder (query filter, URL, method, host, header filter)
→ Lua backend (pre/post) → executor (Lambda, or HTTP client) → decode → entity formatter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from krakenpy.backends.http import http_backend
from krakenpy.config.model import BackendConfig
from krakenpy.errors import BackendError
from krakenpy.lambda_ import lambda_executor
from krakenpy.lua import lua_backend_middleware
from krakenpy.proxy.compose import compose
from krakenpy.proxy.concurrent import concurrent_middleware
from krakenpy.proxy.deadline import arm, disarm, expired
from krakenpy.proxy.formatter import Formatter, compile_formatter
from krakenpy.proxy.request_builder import backend_request_builder, backend_request_middleware
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["backend_formatter", "build_backend"]


def backend_formatter(backend: BackendConfig) -> Formatter | None:
    """target/allow/deny/mapping/group (or the backend flatmap) compiled once; ``None`` if unused."""
    if backend.encoding == "no-op":
        return None
    flatmap = (backend.extra_config.get("proxy") or {}).get("flatmap_filter")
    return compile_formatter(
        target=backend.target,
        allow=backend.allow,
        deny=backend.deny,
        mapping=backend.mapping,
        group=backend.group,
        flatmap=flatmap if isinstance(flatmap, list) and flatmap else None,
    )


def _deadline(executor: Proxy, span: float, prepare: Callable[[Request], None] | None = None) -> Proxy:
    """The endpoint deadline ends the backend call with an error the outer layers can handle
    (static fallbacks, Lua post scripts, partial merges), as a Go context deadline does in lura.
    ``prepare`` (the request builder, when nothing sits in between) runs first, in the same call."""

    async def bounded(request: Request) -> Response:
        if prepare is not None:
            prepare(request)
        if not request.deadline:
            return await executor(request)
        timer = arm(request.deadline, span)
        try:
            return await executor(request)
        except asyncio.CancelledError:
            if expired(timer):
                raise BackendError("context deadline exceeded") from None
            raise
        finally:
            disarm(timer)

    return bounded


async def build_backend(backend: BackendConfig, resources: Resources) -> Proxy:
    """Compile one backend into a :data:`Proxy`."""
    formatter = backend_formatter(backend)
    executor = await lambda_executor(backend, resources, formatter)
    if executor is None:
        executor = http_backend(
            backend,
            resources.http,
            formatter,
            disable_compression=resources.service.disable_compression,
        )
    concurrent = concurrent_middleware(backend.concurrent_calls, backend.timeout)
    lua = lua_backend_middleware(backend, resources)
    if lua is None:  # one coroutine less per call: the builder runs inside the deadline layer
        return compose(_deadline(executor, backend.timeout, backend_request_builder(backend)), concurrent)
    return compose(
        _deadline(executor, backend.timeout),
        concurrent,
        backend_request_middleware(backend),
        lua,
    )
