"""Per-backend stacks (lura ``proxy/factory.go`` ``newStack``), outermost first:

concurrent calls → request builder (query filter, URL, method, host, header filter)
→ backend-layer components (circuit breaker, rate limit, Lua backend, CEL ...) → deadline
→ executor (a component's, e.g. Lambda; else the HTTP executor over the client-layer chain)
→ decode → entity formatter.

The component middlewares and the executor arrive built; this package imports no component.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from krakenpy.config.model import BackendConfig
from krakenpy.proxy.compose import compose
from krakenpy.proxy.concurrent import concurrent_middleware
from krakenpy.proxy.deadline import bounded_proxy
from krakenpy.proxy.formatter import Formatter, compile_formatter
from krakenpy.proxy.request_builder import backend_request_builder, backend_request_middleware
from krakenpy.proxy.types import (
    Middleware,
    Proxy,
    is_task_free,
    keeps_maps,
    keeps_request_maps,
    task_free,
)

__all__ = ["backend_formatter", "build_backend"]


def backend_formatter(backend: BackendConfig) -> Formatter | None:
    """target/allow/deny/mapping/group (or the backend flatmap) compiled once; ``None`` if unused."""
    if backend.encoding == "no-op":
        return None
    return compile_formatter(
        target=backend.target,
        allow=backend.allow,
        deny=backend.deny,
        mapping=backend.mapping,
        group=backend.group,
        flatmap=backend.proxy.flatmap_filter or None,
    )


def build_backend(
    backend: BackendConfig,
    executor: Proxy,
    middlewares: Sequence[Middleware | None] = (),
    pick: Callable[[], str] | None = None,
) -> Proxy:
    """Compile one backend's stack around its ``executor``; ``middlewares`` (outermost first) sit
    between the request builder and the deadline; ``pick`` chooses each call's host (service discovery)."""
    concurrent = concurrent_middleware(backend.concurrent_calls, backend.timeout)
    layers = [m for m in middlewares if m is not None]
    if not layers:  # one coroutine less per call: the builder runs inside the deadline layer
        stack = compose(bounded_proxy(executor, backend_request_builder(backend, pick), backend.timeout), concurrent)
    else:
        stack = compose(
            bounded_proxy(executor, span=backend.timeout),
            concurrent,
            backend_request_middleware(backend, pick),
            *layers,
        )
    # the builder assigns new maps, the deadline and concurrent calls (which clone) touch none: the
    # stack keeps a request's maps when its executor and its component layers do
    if keeps_request_maps(executor) and all(keeps_request_maps(m) for m in layers):
        keeps_maps(stack)
    # the deadline layer arms nothing for a request without a timer and deadline (a merge's driven
    # backend: the merge's deadline ends it); concurrent calls run tasks
    if concurrent is None and is_task_free(executor) and all(is_task_free(m) for m in layers):
        task_free(stack)
    return stack
