"""Compile one endpoint into a :data:`Proxy` (lura ``proxy/factory.go`` + krakend-ce ``proxy_factory.go``).

Endpoint stack, outermost first::

    proxy-layer components (Lua proxy, CEL, JSON Schema ...) → shadow split → static
        → flatmap (>1 backend) → merger | sequential → per-backend stacks (krakenpy.backends)

A single (non-shadow) backend needs no merger: its stack is the endpoint proxy. The component
middlewares arrive built, in the registry's order; this module imports no component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.compose import compose
from krakenpy.proxy.flatmap import compile_flatmap
from krakenpy.proxy.merging import merge_proxy
from krakenpy.proxy.sequential import sequential_proxy
from krakenpy.proxy.shadow import shadow_middleware
from krakenpy.proxy.static import static_middleware
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["MERGE_TIMEOUT_RATIO", "build_endpoint_proxy"]

MERGE_TIMEOUT_RATIO = 0.85


def _endpoint_flatmap(endpoint: EndpointConfig) -> Middleware | None:
    specs = endpoint.proxy.flatmap_filter
    if not specs or len(endpoint.backends) < 2:
        return None  # KrakenD ignores an endpoint flatmap on single-backend endpoints
    flatmap = compile_flatmap(specs)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def flat(request: Request) -> Response:
            response = await next_proxy(request)
            response.data = flatmap(response.data)
            return response

        return flat

    return middleware


def build_endpoint_proxy(
    endpoint: EndpointConfig,
    backends: Sequence[Proxy],
    middlewares: Sequence[Middleware | None] = (),
) -> Proxy:
    """The endpoint's proxy over its compiled ``backends`` (one per ``endpoint.backends``, same order),
    wrapped by the proxy-layer ``middlewares`` (outermost first)."""
    normal: list[Proxy] = []
    normal_cfgs: list[BackendConfig] = []
    shadows: list[tuple[Proxy, float]] = []
    for backend, proxy in zip(endpoint.backends, backends, strict=True):
        if backend.proxy.shadow:
            shadows.append((proxy, backend.proxy.shadow_timeout or endpoint.timeout))
        else:
            normal.append(proxy)
            normal_cfgs.append(backend)
    if not normal:
        raise ConfigError([ConfigIssue(endpoint.path, "every backend is a shadow backend")])
    budget = endpoint.timeout * MERGE_TIMEOUT_RATIO
    if endpoint.proxy.sequential and len(normal) > 1:
        seq_endpoint = endpoint if not shadows else replace(endpoint, backends=tuple(normal_cfgs))
        core = sequential_proxy(seq_endpoint, normal, timeout=budget)
    elif len(normal) == 1:
        core = normal[0]
    else:
        core = merge_proxy(normal, timeout=budget)
    return compose(
        core,
        *middlewares,
        shadow_middleware(shadows),
        static_middleware(endpoint.proxy.static),
        _endpoint_flatmap(endpoint),
    )
