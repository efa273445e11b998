"""Stack middlewares, skipping the ones a config does not need (they are ``None``)."""

from __future__ import annotations

from krakenpy.proxy.types import Middleware, Proxy

__all__ = ["compose"]


def compose(proxy: Proxy, *middlewares: Middleware | None) -> Proxy:
    """Wrap ``proxy`` so that the first middleware is the outermost; ``None`` entries cost nothing."""
    for middleware in reversed(middlewares):
        if middleware is not None:
            proxy = middleware(proxy)
    return proxy
