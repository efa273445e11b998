"""``modifier/martian`` (backend): Martian's static request/response modifiers, filters and groups on
one HTTP backend's upstream call (client layer, where krakend-martian wraps the HTTP client: the
request after the URL is built, the response before it is decoded, so ``no-op`` sees it too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse, refusal_without
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
    #: the (kind, name, value) of every header and query value the modifiers write: ``header`` or
    #: ``query``, read for the credentials among them (an upstream's API key the gateway adds)
    written: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)


#: the modifiers that write a fixed header or query value, and the kind of name they write
_WRITERS: Final = {"header.Modifier": "header", "header.Append": "header", "querystring.Modifier": "query"}


def _written(raw: Any, out: list[tuple[str, str, str]]) -> None:
    """Every fixed header and query value in a modifier tree (groups, filters' branches included)."""
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            kind = _WRITERS.get(key)
            if kind is not None and isinstance(value, Mapping):
                name, text = value.get("name"), value.get("value")
                if isinstance(name, str) and isinstance(text, str) and text:
                    out.append((kind, name, text))
            _written(value, out)
    elif isinstance(raw, list):
        for item in raw:
            _written(item, out)


def _parse(raw: Any, site: Site) -> MartianOptions:
    request, response = compile_modifier(raw, site.path)
    written: list[tuple[str, str, str]] = []
    _written(raw, written)
    return MartianOptions(request, response, tuple(written))


def _credentials(options: MartianOptions, resources: Resources) -> tuple[str, ...]:
    """The values the modifiers write into a header or query key the redactor masks (an upstream's
    key: ``X-Api-Key``, ``Authorization: Basic …``, ``?api_key=``), registered as literals every
    output masks; their scheme-less part too (``Basic <token>``: the token)."""
    from krakenpy.telemetry.setup import hub_for, register_credentials

    redactor = hub_for(resources).redactor
    found: list[str] = []
    for kind, name, value in options.written:
        if redactor.is_sensitive_header(name) if kind == "header" else redactor.is_sensitive_query_key(name):
            found.append(value)
            scheme, space, rest = value.partition(" ")
            if space and rest.strip():
                found.append(rest.strip())
    register_credentials(resources, secrets=found)
    return tuple(found)


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


async def _client(options: MartianOptions, site: Site, resources: Resources) -> ClientMiddleware | None:
    on_request, on_response = options.request, options.response
    if on_request is None and on_response is None:
        return None  # e.g. an empty fifo.Group, as 48 endpoints of one corpus config have
    from krakenpy.telemetry.setup import hub_for

    # the gateway's own upstream credentials: masked in a refusal quoting them (return_error_code or
    # a no-op backend would hand the upstream's answer to the client), on the failure path only
    literals = tuple(v.encode() for v in _credentials(options, resources))
    mask = hub_for(resources).redactor.mask.encode()

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def modified(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> UpstreamResponse:
            if on_request is not None:
                message = Message(list(headers), body, url=url, method=method)
                on_request(message)
                url, headers, body = message.url, message.headers, message.body
            response = await call(method, url, headers, body)
            if literals and not 200 <= response.status < 300:
                response = await refusal_without(response, literals, mask)
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
