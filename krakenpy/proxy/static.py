"""Static data merged over the response (lura ``proxy/static.go``), ``proxy.static`` at endpoint level."""

from __future__ import annotations

import copy
from collections.abc import Callable

from krakenpy.config.options import StaticOptions
from krakenpy.errors import PipelineError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["static_middleware"]

_Strategy = Callable[[Response | None, BaseException | None], bool]
_STRATEGIES: dict[str, _Strategy] = {
    "always": lambda r, e: True,
    "success": lambda r, e: e is None,
    "complete": lambda r, e: e is None and r is not None and r.is_complete,
    "errored": lambda r, e: e is not None,
    "incomplete": lambda r, e: r is None or not r.is_complete,
}


def static_middleware(options: StaticOptions | None) -> Middleware | None:
    """``None`` unless the endpoint declares ``proxy.static``."""
    if options is None:
        return None
    strategy = _STRATEGIES[options.strategy]
    data = dict(options.data)

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
