"""The body generators as pipeline middlewares: one writes the request body before the call, the
other rewrites the answer after it (see :mod:`krakenpy.bodygen` for the template's variables)."""

from __future__ import annotations

from typing import Any

import orjson

from krakenpy.bodygen import Compiled, request_values, response_values
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["request_generator", "response_generator", "wrap"]


def wrap(result: Any) -> dict[str, Any]:
    """Answer data for a generated JSON value: an object as it is, an array under ``collection``,
    anything else under ``content`` (KrakenD's wrapping of non-object answers)."""
    if isinstance(result, dict):
        return result
    if isinstance(result, list):
        return {"collection": result}
    return {} if result is None else {"content": result}


def request_generator(compiled: Compiled, content_type: str, debug: bool, name: str) -> Middleware:
    """The request body becomes the template's output, sent as ``content_type``."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def generated(request: Request) -> Response:
            body = compiled.render(request_values(request), debug, name).encode()
            headers = {k: v for k, v in request.headers.items() if k != "Content-Length"}
            headers["Content-Type"] = [content_type]
            request.headers, request.body = headers, body
            return await next_proxy(request)

        return generated

    return middleware


def response_generator(compiled: Compiled, content_type: str, debug: bool, name: str) -> Middleware:
    """The answer becomes the template's output: a ``no-op`` body as it is (with ``content_type``),
    else decoded as JSON into the answer's data."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def generated(request: Request) -> Response:
            response = await next_proxy(request)
            text = compiled.render(response_values(request, response), debug, name)
            if response.body is not None:
                headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
                headers["Content-Type"] = [content_type]
                response.headers, response.body = headers, text.encode()
                return response
            try:
                response.data = wrap(orjson.loads(text))
            except orjson.JSONDecodeError:
                raise BackendError(f"{name}: the template did not write JSON", name="TemplateError") from None
            return response

        return generated

    return middleware
