"""Static data merged over the response (lura ``proxy/static.go``), ``proxy.static`` at endpoint level."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from krakenpy.errors import PipelineError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["NAMESPACE", "static_middleware"]

NAMESPACE = "proxy"

_Strategy = Callable[[Response | None, BaseException | None], bool]
_STRATEGIES: dict[str, _Strategy] = {
    "always": lambda r, e: True,
    "success": lambda r, e: e is None,
    "complete": lambda r, e: e is None and r is not None and r.is_complete,
    "errored": lambda r, e: e is not None,
    "incomplete": lambda r, e: r is None or not r.is_complete,
}


def static_middleware(extra: Mapping[str, Any]) -> Middleware | None:
    """``None`` unless the endpoint declares ``proxy.static``."""
    options = (extra.get(NAMESPACE) or {}).get("static")
    if not isinstance(options, Mapping):
        return None
    strategy_name = str(options.get("strategy") or "always")
    if strategy_name not in _STRATEGIES:
        raise ValueError(f"unknown static strategy {strategy_name!r}")
    strategy = _STRATEGIES[strategy_name]
    data = dict(options.get("data") or {})

    def middleware(next_proxy: Proxy) -> Proxy:
        async def static(request: Request) -> Response:
            try:
                response = await next_proxy(request)
            except PipelineError as exc:
                if not strategy(None, exc):
                    raise
                return Response(data=copy.deepcopy(data), is_complete=False, errors=(exc,))
            error = response.errors[0] if response.errors else None
            if strategy(response, error):
                response.data.update(copy.deepcopy(data))
            return response

        return static

    return middleware
