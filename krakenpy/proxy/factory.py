"""Compile one endpoint into a :data:`Proxy` (lura ``proxy/factory.go`` + krakend-ce ``proxy_factory.go``).

Endpoint stack, outermost first::

    Lua proxy (pre/post) → shadow split → static → flatmap (>1 backend) → merger | sequential
        → per-backend stacks (krakenpy.backends)

A single (non-shadow) backend needs no merger: its stack is the endpoint proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.lua import lua_proxy_middleware
from krakenpy.proxy.compose import compose
from krakenpy.proxy.flatmap import compile_flatmap
from krakenpy.proxy.merging import merge_proxy
from krakenpy.proxy.sequential import sequential_proxy
from krakenpy.proxy.shadow import is_shadow, shadow_middleware, shadow_timeout
from krakenpy.proxy.static import static_middleware
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["BackendFactory", "build_endpoint_proxy"]

BackendFactory = Callable[[BackendConfig, Resources], Awaitable[Proxy]]

MERGE_TIMEOUT_RATIO = 0.85


def _endpoint_flatmap(endpoint: EndpointConfig) -> Middleware | None:
    specs = (endpoint.extra_config.get("proxy") or {}).get("flatmap_filter")
    if not isinstance(specs, list) or not specs or len(endpoint.backends) < 2:
        return None  # KrakenD ignores an endpoint flatmap on single-backend endpoints
    flatmap = compile_flatmap(specs)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def flat(request: Request) -> Response:
            response = await next_proxy(request)
            response.data = flatmap(response.data)
            return response

        return flat

    return middleware


async def build_endpoint_proxy(
    endpoint: EndpointConfig, resources: Resources, backend_factory: BackendFactory
) -> Proxy:
    """Build the endpoint's proxy; component config errors become :class:`ConfigError` at ``path``."""
    try:
        normal: list[Proxy] = []
        normal_cfgs: list[BackendConfig] = []
        shadows: list[tuple[Proxy, float]] = []
        for backend in endpoint.backends:
            proxy = await backend_factory(backend, resources)
            if is_shadow(backend.extra_config):
                shadows.append((proxy, shadow_timeout(backend.extra_config, endpoint.timeout)))
            else:
                normal.append(proxy)
                normal_cfgs.append(backend)
        if not normal:
            raise ValueError("every backend is a shadow backend")
        options = endpoint.extra_config.get("proxy") or {}
        budget = endpoint.timeout * MERGE_TIMEOUT_RATIO
        if options.get("sequential") and len(normal) > 1:
            seq_endpoint = endpoint if not shadows else _without_shadows(endpoint, normal_cfgs)
            core = sequential_proxy(seq_endpoint, normal, timeout=budget)
        elif len(normal) == 1:
            core = normal[0]
        else:
            core = merge_proxy(normal, timeout=budget)
        return compose(
            core,
            lua_proxy_middleware(endpoint, resources),
            shadow_middleware(shadows),
            static_middleware(endpoint.extra_config),
            _endpoint_flatmap(endpoint),
        )
    except ConfigError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError([ConfigIssue(endpoint.path, str(exc))]) from None


def _without_shadows(endpoint: EndpointConfig, backends: list[BackendConfig]) -> EndpointConfig:
    from dataclasses import replace

    return replace(endpoint, backends=tuple(backends))
