"""``modifier/martian`` (backend): Martian's static request/response modifiers, filters and groups on
one HTTP backend's upstream call (client layer, where krakend-martian wraps the HTTP client: the
request after the URL is built, the response before it is decoded, so ``no-op`` sees it too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.components.base import Component, Site
from krakenpy.martian.base import Step
from krakenpy.martian.compile import compile_modifier
from krakenpy.martian.message import Message
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


@dataclass(frozen=True, slots=True)
class MartianOptions:
    """The compiled steps: one for the upstream request, one for its response (either may be absent)."""

    request: Step | None
    response: Step | None


def _parse(raw: Any, site: Site) -> MartianOptions:
    request, response = compile_modifier(raw, site.path)
    return MartianOptions(request, response)


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


async def _client(options: MartianOptions, site: Site, resources: Resources) -> ClientMiddleware | None:
    on_request, on_response = options.request, options.response
    if on_request is None and on_response is None:
        return None  # e.g. an empty fifo.Group, as 48 endpoints of one corpus config have

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def modified(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> UpstreamResponse:
            if on_request is not None:
                message = Message(list(headers), body, url=url, method=method)
                on_request(message)
                url, headers, body = message.url, message.headers, message.body
            response = await call(method, url, headers, body)
            if on_response is None:
                return response
            message = Message(list(response.headers), response.body, status=response.status)
            on_response(message)
            return UpstreamResponse(
                status=response.status,
                headers=tuple(message.headers),
                body=message.body or b"",
                content_type=_content_type(message.headers),
            )

        return modified

    return middleware


COMPONENT: Final = Component(
    namespace="modifier/martian",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="Martian DSL: static header, query, URL, cookie and body modifiers, filters, groups on the upstream call",
    client=_client,
)
